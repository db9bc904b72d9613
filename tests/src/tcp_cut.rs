//! A TCP forwarder on loopback between a link's dialer and its listener, whose connections the
//! test cuts at will: both directions shut down at once, as a broken path would, so each end
//! sees its session end while both switches keep running. Flapping a link is dialing through
//! it and cutting over and over.

use std::io::copy;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The forwarder; stops accepting and cuts what it carries on drop.
#[derive(Debug)]
pub struct TcpCut {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Both sockets of every connection being carried.
    open: Mutex<Vec<TcpStream>>,
    accepted: AtomicUsize,
    stop: AtomicBool,
}

impl TcpCut {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> TcpCut {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the forwarder");
        let addr = listener.local_addr().expect("forwarder address");
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(&listener, target, &shared))
        };
        TcpCut {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where to dial (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Cuts every connection carried now; returns how many there were.
    pub fn cut(&self) -> usize {
        let open = std::mem::take(
            &mut *self
                .shared
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for s in &open {
            let _ = s.shutdown(Shutdown::Both);
        }
        open.len() / 2
    }
}

impl Drop for TcpCut {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        self.cut();
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, shared: &Shared) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(upstream) = TcpStream::connect(target) else {
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let clones = (
            client.try_clone(),
            upstream.try_clone(),
            client.try_clone(),
            upstream.try_clone(),
        );
        let (Ok(c_read), Ok(u_write), Ok(c_keep), Ok(u_keep)) = clones else {
            continue;
        };
        shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([c_keep, u_keep]);
        pipe(c_read, u_write);
        pipe(upstream, client);
    }
}

/// Copies `from` to `to` on a thread of its own until either side ends, then ends both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = copy(&mut from, &mut to);
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}
