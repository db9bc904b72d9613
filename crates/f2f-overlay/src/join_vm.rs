//! `join --vm IMAGE`: the member's VM beside its room session. The room
//! driver hands over the granted MAC once the grant is applied and the switch
//! is wired ([`crate::room::VmTrigger`]); the VM then starts through
//! [`crate::vm::launch`] on the member's own switch, named after the member's
//! nick, with its files in the state directory's `vms/NICK/`.
//!
//! The VM stops when `join` exits (the switch's stop, or the session
//! failing); a VM that cannot start or fails makes `join` exit with the
//! launcher's error, which names the cause. A guest that powers off by
//! itself leaves the member in the room.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use f2f_core::mac::MacAddr;
use f2f_core::room::Grant;
use tokio::sync::{oneshot, Notify};
use tracing::{info, warn};

use crate::provision::{fetch, ATTEMPTS, ROOM_IMAGE};
use crate::vm::{launch, Ended, VmOptions};

/// How long a stopping VM gets before `join` goes on without it (qemu gets
/// SIGKILL when its handle is dropped).
const VM_STOP_GRACE: Duration = Duration::from_secs(6);

/// Starts the VM of `opts` with the MAC from `mac` and runs it until
/// `stop` is notified; an error when it cannot start or fails.
async fn run_vm(
    mut opts: VmOptions,
    mac: oneshot::Receiver<(MacAddr, Grant)>,
    stop: Arc<Notify>,
) -> Result<Ended> {
    let before_grant = |why: &str| Ok(Ended::Stopped(format!("{why} before a grant")));
    let (mac, grant) = tokio::select! {
        mac = mac => match mac {
            Ok(granted) => granted,
            Err(_) => return before_grant("the room session ended"),
        },
        () = stop.notified() => return before_grant("join is exiting"),
    };
    opts.mac = Some(mac);
    if opts.image.as_os_str() == ROOM_IMAGE {
        let Some(offer) = &grant.image else {
            bail!("--vm {ROOM_IMAGE}: the master offers no image (it needs --serve-image BUNDLE)");
        };
        let fetched = tokio::select! {
            dir = fetch(offer, grant.key.0, &opts.state_dir, ATTEMPTS) => dir?,
            () = stop.notified() => return Ok(Ended::Stopped(
                "join is exiting while fetching the image".to_string(),
            )),
        };
        opts.image = fetched;
    }
    let vm = launch(&opts).await?;
    info!(
        mac = %vm.mac(),
        console = %vm.console_path().display(),
        "VM started"
    );
    vm.run(async move {
        stop.notified().await;
        "join is exiting".to_string()
    })
    .await
}

/// Runs the room `session` and the VM side by side until `stop` (the
/// switch's) is notified or either fails. `session_stop` is the session's
/// own shutdown notification.
pub async fn run_beside(
    session: impl Future<Output = Result<()>>,
    session_stop: Arc<Notify>,
    stop: Arc<Notify>,
    opts: VmOptions,
    mac: oneshot::Receiver<(MacAddr, Grant)>,
) -> Result<()> {
    let vm_stop = Arc::new(Notify::new());
    let vm = run_vm(opts, mac, Arc::clone(&vm_stop));
    tokio::pin!(session, vm);
    let mut vm_running = true;
    let outcome = loop {
        tokio::select! {
            result = &mut session => break result,
            result = &mut vm, if vm_running => {
                vm_running = false;
                match result {
                    Ok(ended) => info!(?ended, "the VM ended; staying in the room"),
                    Err(e) => break Err(e),
                }
            }
            () = stop.notified() => {
                session_stop.notify_one();
                vm_stop.notify_one();
                break session.as_mut().await;
            }
        }
    };
    if vm_running {
        vm_stop.notify_one();
        match tokio::time::timeout(VM_STOP_GRACE, vm).await {
            Ok(Ok(ended)) => info!(?ended, "VM stopped"),
            Ok(Err(e)) => warn!("the VM failed while stopping: {e:#}"),
            Err(_) => warn!("the VM did not stop in time: killing qemu"),
        }
    }
    outcome
}
