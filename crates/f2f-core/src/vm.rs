//! The pure parts of `f2f-overlay vm` (spec/cli.md): the image bundle's
//! `image.toml`, the choice between KVM and TCG, what `qemu-img info` says
//! about a base disk, the qemu command line, and reading a guest's fate from
//! its serial console.
//!
//! The shell reads the files, probes `/dev/kvm`, runs `qemu-img` and qemu, and
//! hands the text here.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::mac::MacAddr;

/// Guest memory when neither `--memory` nor `image.toml` says (MB).
pub const DEFAULT_MEMORY_MB: u32 = 128;
/// Least guest memory accepted (MB): a Linux guest does not boot in less.
pub const MIN_MEMORY_MB: u32 = 16;
/// Most guest memory accepted (MB, 1 TiB): a typo guard.
pub const MAX_MEMORY_MB: u32 = 1 << 20;
/// Longest kernel command line x86 Linux takes (bytes, `COMMAND_LINE_SIZE`).
pub const MAX_APPEND: usize = 2048;
/// Longest VM name (it names a directory and qemu's `-name`).
pub const MAX_NAME: usize = 64;
/// What the kernel prints when it panics; a console holding it is a crashed guest.
pub const PANIC_MARKER: &str = "Kernel panic - not syncing";
/// The bundle description file inside a bundle directory.
pub const BUNDLE_FILE: &str = "image.toml";

/// Why an `image.toml` was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Not TOML, a wrong type, a missing `disk` or an unknown key; the message
    /// names the key and the line.
    #[error("{0}")]
    Syntax(String),
    /// A key with a value that cannot work.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

/// An image bundle's `image.toml`: paths relative to the bundle directory,
/// never outside it (no absolute paths, no `..`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageToml {
    /// The base disk (qcow2 or raw); never written, each run gets an overlay.
    pub disk: PathBuf,
    /// Kernel for direct kernel boot.
    pub kernel: Option<PathBuf>,
    /// Initial ramdisk (needs `kernel`).
    pub initrd: Option<PathBuf>,
    /// Kernel command line (needs `kernel`).
    pub append: Option<String>,
    /// Guest memory in MB.
    pub memory: Option<u32>,
}

impl ImageToml {
    /// Parses and validates the text of an `image.toml`.
    pub fn parse(text: &str) -> Result<ImageToml, ImageError> {
        let file: ImageToml =
            toml::from_str(text).map_err(|e| ImageError::Syntax(e.to_string()))?;
        file.validate()?;
        Ok(file)
    }

    fn validate(&self) -> Result<(), ImageError> {
        for (key, path) in [
            ("disk", Some(&self.disk)),
            ("kernel", self.kernel.as_ref()),
            ("initrd", self.initrd.as_ref()),
        ] {
            if let Some(p) = path {
                check_path(key, p)?;
            }
        }
        if self.kernel.is_none() {
            for (key, given) in [
                ("initrd", self.initrd.is_some()),
                ("append", self.append.is_some()),
            ] {
                if given {
                    return Err(ImageError::Invalid {
                        key,
                        reason: "needs kernel (direct kernel boot)".into(),
                    });
                }
            }
        }
        if let Some(a) = &self.append {
            check_append(a).map_err(|reason| ImageError::Invalid {
                key: "append",
                reason,
            })?;
        }
        if let Some(m) = self.memory {
            check_memory(m).map_err(|reason| ImageError::Invalid {
                key: "memory",
                reason,
            })?;
        }
        Ok(())
    }

    /// The bundle's files with relative paths resolved against `bundle_dir`.
    pub fn resolve(&self, bundle_dir: &Path) -> Image {
        let at = |p: &PathBuf| bundle_dir.join(p);
        Image {
            disk: at(&self.disk),
            kernel: self.kernel.as_ref().map(at),
            initrd: self.initrd.as_ref().map(at),
            append: self.append.clone(),
            memory: self.memory,
        }
    }
}

fn check_path(key: &'static str, p: &Path) -> Result<(), ImageError> {
    let text = p.as_os_str();
    if text.is_empty() {
        return Err(ImageError::Invalid {
            key,
            reason: "empty path".into(),
        });
    }
    if text.as_encoded_bytes().contains(&0) {
        return Err(ImageError::Invalid {
            key,
            reason: "path contains a NUL byte".into(),
        });
    }
    // A bundle may come from someone else: it names only its own files, so
    // it can never make qemu read a host file into the guest.
    let inside = p
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(ImageError::Invalid {
            key,
            reason: format!(
                "{} is not inside the bundle: use a relative path without '..'",
                p.display()
            ),
        });
    }
    Ok(())
}

/// Checks a kernel command line: one line, no NUL, at most [`MAX_APPEND`] bytes.
pub fn check_append(append: &str) -> Result<(), String> {
    if append.len() > MAX_APPEND {
        return Err(format!(
            "{} bytes, the kernel takes at most {MAX_APPEND}",
            append.len()
        ));
    }
    if append.contains(['\n', '\r', '\0']) {
        return Err("must be one line without NUL bytes".into());
    }
    Ok(())
}

/// Checks a guest memory size in MB.
pub fn check_memory(mb: u32) -> Result<(), String> {
    if (MIN_MEMORY_MB..=MAX_MEMORY_MB).contains(&mb) {
        Ok(())
    } else {
        Err(format!(
            "{mb} MB is out of range ({MIN_MEMORY_MB}..={MAX_MEMORY_MB})"
        ))
    }
}

/// A VM's image with every path resolved: from a bundle, or a bare disk plus
/// the command line's `--kernel/--initrd/--append`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// The base disk.
    pub disk: PathBuf,
    /// Kernel for direct kernel boot.
    pub kernel: Option<PathBuf>,
    /// Initial ramdisk.
    pub initrd: Option<PathBuf>,
    /// Kernel command line.
    pub append: Option<String>,
    /// Guest memory in MB.
    pub memory: Option<u32>,
}

/// Checks a VM name: 1..=[`MAX_NAME`] of `A-Z a-z 0-9 . _ -`, not starting
/// with `.` or `-` (it becomes the directory `vms/NAME/`).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("must be 1 to {MAX_NAME} characters"));
    }
    if name.starts_with(['.', '-']) || !name.chars().all(ok_char) {
        return Err("use letters, digits, '.', '_' and '-' (not first)".into());
    }
    Ok(())
}

/// The name a VM gets without `--name`: the bundle directory's or disk file's
/// stem, with characters [`check_name`] refuses replaced by `-`.
pub fn default_name(image: &Path) -> String {
    let stem = image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_NAME)
        .collect();
    let trimmed = cleaned.trim_start_matches(['.', '-']);
    if trimmed.is_empty() {
        "vm".into()
    } else {
        trimmed.into()
    }
}

/// A MAC for a VM without `--mac`: qemu's locally administered prefix
/// `52:54:00` and three random bytes from the shell.
pub fn random_mac(random: [u8; 3]) -> MacAddr {
    let [a, b, c] = random;
    MacAddr([0x52, 0x54, 0x00, a, b, c])
}

/// Checks a MAC given for a VM: a NIC needs a unicast address.
pub fn check_mac(mac: MacAddr) -> Result<(), String> {
    if mac.is_multicast() || mac == MacAddr::default() {
        return Err(format!("{mac} is not a unicast address a NIC can have"));
    }
    Ok(())
}

/// What `--accel` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AccelChoice {
    /// KVM when it really works, TCG otherwise.
    #[default]
    Auto,
    /// KVM or an error saying why not.
    Kvm,
    /// Always TCG (software emulation).
    Tcg,
}

impl std::str::FromStr for AccelChoice {
    type Err = String;
    /// `auto`, `kvm` or `tcg`.
    fn from_str(s: &str) -> Result<AccelChoice, String> {
        match s {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            other => Err(format!("{other:?} is not auto, kvm or tcg")),
        }
    }
}

/// How qemu runs the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization.
    Kvm,
    /// qemu's software emulation.
    Tcg,
}

impl Accel {
    /// The value of qemu's `-accel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The accelerator chosen, and why (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccelDecision {
    /// The accelerator.
    pub accel: Accel,
    /// One sentence: why this one.
    pub why: String,
}

/// True when a `/proc/cpuinfo` text has a `flags` line naming `vmx` (Intel
/// VT-x) or `svm` (AMD-V).
pub fn cpu_has_virtualization(cpuinfo: &str) -> bool {
    cpuinfo.lines().any(|line| {
        let Some((key, value)) = line.split_once(':') else {
            return false;
        };
        key.trim() == "flags" && value.split_whitespace().any(|f| f == "vmx" || f == "svm")
    })
}

/// Chooses the accelerator. `kvm_device` is the result of opening
/// `/dev/kvm` read-write (the error text says why not); `cpuinfo` is
/// `/proc/cpuinfo`. The device node alone proves nothing: on some hosts it
/// opens while the CPU has no vmx/svm and a KVM guest hangs silently, so KVM
/// needs both. `--accel kvm` without them is an error naming what is missing.
pub fn choose_accel(
    choice: AccelChoice,
    kvm_device: Result<(), String>,
    cpuinfo: &str,
) -> Result<AccelDecision, String> {
    let missing = match (&kvm_device, cpu_has_virtualization(cpuinfo)) {
        (Ok(()), true) => None,
        (Err(e), _) => Some(format!("/dev/kvm is not usable ({e})")),
        (Ok(()), false) => Some(
            "/dev/kvm opens but the CPU flags in /proc/cpuinfo have neither vmx nor svm".into(),
        ),
    };
    match (choice, missing) {
        (AccelChoice::Tcg, _) => Ok(AccelDecision {
            accel: Accel::Tcg,
            why: "TCG as asked (--accel tcg)".into(),
        }),
        (AccelChoice::Kvm | AccelChoice::Auto, None) => Ok(AccelDecision {
            accel: Accel::Kvm,
            why: "KVM: /dev/kvm opens and the CPU has vmx/svm".into(),
        }),
        (AccelChoice::Kvm, Some(why)) => Err(format!("--accel kvm cannot work: {why}")),
        (AccelChoice::Auto, Some(why)) => Ok(AccelDecision {
            accel: Accel::Tcg,
            why: format!("TCG (slow software emulation): {why}"),
        }),
    }
}

/// What `qemu-img info --output=json` says about a disk.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DiskInfo {
    /// The format qemu-img detected (`qcow2`, `raw`, ...).
    pub format: String,
    /// Size the guest sees, in bytes.
    #[serde(rename = "virtual-size")]
    pub virtual_size: u64,
}

impl DiskInfo {
    /// Parses `qemu-img info --output=json` output.
    pub fn parse(json: &str) -> Result<DiskInfo, String> {
        serde_json::from_str(json).map_err(|e| format!("unexpected qemu-img info output: {e}"))
    }

    /// Checks that a base disk is usable: a qcow2 or raw disk, and a file
    /// named `.qcow2`/`.qcow` really is qcow2 (qemu-img takes any file it
    /// cannot recognise for raw data, so a qcow2 with a damaged header shows
    /// up as "raw").
    pub fn check_base(&self, path: &Path) -> Result<(), String> {
        let named_qcow = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("qcow2") || e.eq_ignore_ascii_case("qcow"));
        match self.format.as_str() {
            "qcow2" => Ok(()),
            "raw" if named_qcow => Err(
                "is named like a qcow2 image but has no qcow2 header (qemu-img sees raw data): the file is corrupt or not a disk image".into(),
            ),
            "raw" if self.virtual_size == 0 => Err("is empty".into()),
            "raw" => Ok(()),
            other => Err(format!(
                "is a {other} image; f2f-overlay vm takes qcow2 or raw (convert it with qemu-img convert -O qcow2)"
            )),
        }
    }
}

/// Escapes a value for qemu's comma-separated option syntax (`,` → `,,`).
pub fn qemu_escape(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// The `qemu-img` arguments that make `overlay`, a qcow2 whose backing file is
/// `base` (format `base_format`); the base is only ever read.
pub fn overlay_args(base: &Path, base_format: &str, overlay: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["create", "-q", "-f", "qcow2", "-F", base_format, "-b"]
        .into_iter()
        .map(OsString::from)
        .collect();
    args.push(base.as_os_str().to_owned());
    args.push(overlay.as_os_str().to_owned());
    args
}

/// Everything the qemu command line is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuPlan {
    /// The VM's name (`-name`).
    pub name: String,
    /// KVM or TCG.
    pub accel: Accel,
    /// Guest memory in MB.
    pub memory_mb: u32,
    /// The NIC's MAC.
    pub mac: MacAddr,
    /// The switch's control directory (`-netdev vde,sock=`).
    pub switch_dir: PathBuf,
    /// The per-run qcow2 overlay (the guest's disk).
    pub overlay: PathBuf,
    /// File the serial console is written to.
    pub console: PathBuf,
    /// qemu's pid file.
    pub pidfile: PathBuf,
    /// Kernel, initrd and command line for direct kernel boot.
    pub kernel: Option<PathBuf>,
    /// Initial ramdisk.
    pub initrd: Option<PathBuf>,
    /// Kernel command line.
    pub append: Option<String>,
}

impl QemuPlan {
    /// The arguments of `qemu-system-x86_64`: no display, no default devices,
    /// a guest reboot ends qemu (`-no-reboot`, so a panicking kernel with
    /// `panic=-1` ends the run instead of looping), one virtio NIC on the
    /// switch, the overlay as a virtio disk, the serial console to a file.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<String> = vec![
            "-name".into(),
            format!("{},process=f2f-vm-{}", self.name, self.name),
            "-accel".into(),
            self.accel.as_str().into(),
        ];
        if self.accel == Accel::Kvm {
            a.extend(["-cpu".into(), "host".into()]);
        }
        a.extend([
            "-m".into(),
            self.memory_mb.to_string(),
            "-smp".into(),
            "1".into(),
            "-display".into(),
            "none".into(),
            "-nodefaults".into(),
            "-no-reboot".into(),
            "-monitor".into(),
            "none".into(),
            "-chardev".into(),
            format!("file,id=con0,path={}", qemu_escape(&self.console)),
            "-serial".into(),
            "chardev:con0".into(),
            "-netdev".into(),
            format!("vde,id=n0,sock={}", qemu_escape(&self.switch_dir)),
            "-device".into(),
            format!("virtio-net-pci,netdev=n0,mac={}", self.mac),
            "-drive".into(),
            format!("file={},format=qcow2,if=virtio", qemu_escape(&self.overlay)),
            "-pidfile".into(),
        ]);
        let mut out: Vec<OsString> = a.into_iter().map(OsString::from).collect();
        out.push(self.pidfile.as_os_str().to_owned());
        for (flag, path) in [("-kernel", &self.kernel), ("-initrd", &self.initrd)] {
            if let Some(p) = path {
                out.push(flag.into());
                out.push(p.as_os_str().to_owned());
            }
        }
        if let Some(append) = &self.append {
            out.push("-append".into());
            out.push(append.into());
        }
        out
    }
}

/// The kernel's panic line in a console text, if the guest panicked.
pub fn guest_panic(console: &str) -> Option<&str> {
    console
        .lines()
        .find(|l| l.contains(PANIC_MARKER))
        .map(|l| l.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU_VMX: &str = "processor\t: 0\nflags\t\t: fpu vme sse2 vmx ssse3\n\n";
    const CPU_NONE: &str = "processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor\nvmx flags\t: ept\n";

    #[test]
    fn parses_a_bundle_and_resolves_its_paths() {
        let t = ImageToml::parse(
            "disk = \"base.qcow2\"\nkernel = \"vmlinuz\"\ninitrd = \"initramfs.gz\"\n\
             append = \"console=ttyS0 quiet\"\nmemory = 96\n",
        )
        .unwrap();
        let img = t.resolve(Path::new("/b/master"));
        assert_eq!(img.disk, PathBuf::from("/b/master/base.qcow2"));
        assert_eq!(img.kernel, Some(PathBuf::from("/b/master/vmlinuz")));
        assert_eq!(img.initrd, Some(PathBuf::from("/b/master/initramfs.gz")));
        assert_eq!(img.append.as_deref(), Some("console=ttyS0 quiet"));
        assert_eq!(img.memory, Some(96));
        let sub = ImageToml::parse("disk = \"./disks/d.img\"").unwrap();
        assert_eq!(
            sub.resolve(Path::new("/b")).disk,
            PathBuf::from("/b/./disks/d.img")
        );
    }

    #[test]
    fn refuses_bad_bundles_by_key() {
        let err = |t: &str| ImageToml::parse(t).unwrap_err().to_string();
        assert!(
            err("kernel = \"k\"").contains("disk"),
            "{}",
            err("kernel = \"k\"")
        );
        assert!(err("disk = \"d\"\ndisks = 1").contains("disks"));
        assert!(err("disk = \"\"").starts_with("disk: empty"));
        assert!(err("disk = \"d\"\ninitrd = \"i\"").starts_with("initrd: needs kernel"));
        assert!(err("disk = \"d\"\nappend = \"a\"").starts_with("append: needs kernel"));
        assert!(err("disk = \"d\"\nmemory = 4").starts_with("memory: 4 MB"));
        assert!(err("disk = \"d\"\nmemory = -1").contains("memory"));
        let long = format!(
            "disk = \"d\"\nkernel = \"k\"\nappend = \"{}\"",
            "a".repeat(3000)
        );
        assert!(err(&long).starts_with("append: 3000 bytes"));
        assert!(err("disk = \"d\"\nkernel = \"k\"\nappend = \"a\\nb\"").starts_with("append:"));
        assert!(err("disk = \"a\\u0000b\"").contains("NUL"));
        for outside in ["/etc/shadow", "../other/base.qcow2", "a/../../b"] {
            let e = err(&format!("disk = \"{outside}\""));
            assert!(e.contains("not inside the bundle"), "{e}");
        }
        assert!(err("disk = \"d\"\nkernel = \"/boot/vmlinuz\"").starts_with("kernel:"));
        assert!(err("not toml").contains("line 1"), "{}", err("not toml"));
    }

    #[test]
    fn kvm_only_with_device_and_cpu_flags() {
        let ok = || Ok(());
        let d = choose_accel(AccelChoice::Auto, ok(), CPU_VMX).unwrap();
        assert_eq!(d.accel, Accel::Kvm);
        let svm = "flags : a svm b\n";
        assert_eq!(
            choose_accel(AccelChoice::Kvm, ok(), svm).unwrap().accel,
            Accel::Kvm
        );
        // The device opens but the CPU cannot: the silent-hang case.
        let d = choose_accel(AccelChoice::Auto, ok(), CPU_NONE).unwrap();
        assert_eq!(d.accel, Accel::Tcg);
        assert!(d.why.contains("neither vmx nor svm"), "{}", d.why);
        let e = choose_accel(AccelChoice::Kvm, ok(), CPU_NONE).unwrap_err();
        assert!(e.starts_with("--accel kvm cannot work"), "{e}");
        let no_dev = || Err("Permission denied".to_string());
        let d = choose_accel(AccelChoice::Auto, no_dev(), CPU_VMX).unwrap();
        assert_eq!(d.accel, Accel::Tcg);
        assert!(d.why.contains("Permission denied"));
        assert!(choose_accel(AccelChoice::Kvm, no_dev(), CPU_VMX).is_err());
        let d = choose_accel(AccelChoice::Tcg, ok(), CPU_VMX).unwrap();
        assert_eq!(d.accel, Accel::Tcg);
        assert_eq!("kvm".parse(), Ok(AccelChoice::Kvm));
        assert!("KVM".parse::<AccelChoice>().is_err());
    }

    #[test]
    fn names_and_macs() {
        assert_eq!(check_name("master-1.a_b"), Ok(()));
        for bad in ["", ".x", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(default_name(Path::new("/img/master")), "master");
        assert_eq!(default_name(Path::new("/img/my disk.qcow2")), "my-disk");
        assert_eq!(default_name(Path::new("/")), "vm");
        assert_eq!(default_name(Path::new("/i/..x")), "vm");
        assert_eq!(check_name(&default_name(Path::new("/i/-a b"))), Ok(()));
        assert_eq!(random_mac([1, 2, 0xab]).to_string(), "52:54:00:01:02:ab");
        assert!(check_mac("52:54:00:00:00:01".parse().unwrap()).is_ok());
        assert!(check_mac("01:00:5e:00:00:01".parse().unwrap()).is_err());
        assert!(check_mac(MacAddr::default()).is_err());
    }

    #[test]
    fn disk_info_and_corrupt_bases() {
        let info = DiskInfo::parse(
            r#"{"virtual-size": 16777216, "filename": "b.qcow2", "format": "qcow2", "dirty-flag": false}"#,
        )
        .unwrap();
        assert_eq!(info.virtual_size, 16 << 20);
        assert_eq!(info.check_base(Path::new("b.qcow2")), Ok(()));
        let raw = DiskInfo {
            format: "raw".into(),
            virtual_size: 4096,
        };
        assert!(raw
            .check_base(Path::new("/b/base.qcow2"))
            .unwrap_err()
            .contains("corrupt"));
        assert_eq!(raw.check_base(Path::new("/b/disk.img")), Ok(()));
        let empty = DiskInfo {
            virtual_size: 0,
            ..raw
        };
        assert!(empty.check_base(Path::new("d.img")).is_err());
        let vmdk = DiskInfo {
            format: "vmdk".into(),
            virtual_size: 1,
        };
        assert!(vmdk
            .check_base(Path::new("d.vmdk"))
            .unwrap_err()
            .contains("convert"));
        assert!(DiskInfo::parse("qemu-img: error").is_err());
    }

    #[test]
    fn qemu_command_line() {
        let plan = QemuPlan {
            name: "vm1".into(),
            accel: Accel::Tcg,
            memory_mb: 96,
            mac: "52:54:00:00:aa:02".parse().unwrap(),
            switch_dir: "/run/sw,1".into(),
            overlay: "/s/vms/vm1/overlay.qcow2".into(),
            console: "/s/vms/vm1/console.log".into(),
            pidfile: "/s/vms/vm1/qemu.pid".into(),
            kernel: Some("/b/vmlinuz".into()),
            initrd: None,
            append: Some("console=ttyS0 x=\"a b\"".into()),
        };
        let args: Vec<String> = plan
            .args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let line = args.join(" ");
        for want in [
            "-accel tcg -m 96",
            "-nodefaults -no-reboot",
            "-netdev vde,id=n0,sock=/run/sw,,1",
            "-device virtio-net-pci,netdev=n0,mac=52:54:00:00:aa:02",
            "-drive file=/s/vms/vm1/overlay.qcow2,format=qcow2,if=virtio",
            "-chardev file,id=con0,path=/s/vms/vm1/console.log -serial chardev:con0",
            "-pidfile /s/vms/vm1/qemu.pid -kernel /b/vmlinuz -append",
        ] {
            assert!(line.contains(want), "{want:?} not in {line}");
        }
        assert!(!line.contains("-initrd") && !line.contains("-cpu"));
        assert_eq!(args.last().unwrap(), "console=ttyS0 x=\"a b\"");
        let kvm = QemuPlan {
            accel: Accel::Kvm,
            ..plan
        };
        let line = kvm.args().join(std::ffi::OsStr::new(" "));
        assert!(line.to_string_lossy().contains("-accel kvm -cpu host"));
    }

    #[test]
    fn overlay_is_made_from_the_base() {
        let a = overlay_args(Path::new("/b/base.qcow2"), "qcow2", Path::new("/o.qcow2"));
        assert_eq!(
            a.join(std::ffi::OsStr::new(" ")),
            "create -q -f qcow2 -F qcow2 -b /b/base.qcow2 /o.qcow2"
        );
    }

    #[test]
    fn finds_a_panic_on_the_console() {
        let log = "VM-DISK boots=1\n[    2.1] Kernel panic - not syncing: No working init found.\n";
        assert_eq!(
            guest_panic(log),
            Some("[    2.1] Kernel panic - not syncing: No working init found.")
        );
        assert_eq!(guest_panic("VM-READY name=a ip=1.2.3.4\n"), None);
    }
}
