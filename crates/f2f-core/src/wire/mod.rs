//! Byte formats on the wire, each as a checked borrowed view plus an owned
//! `Repr` (see STYLE.md, "Two types per wire format").
//!
//! - [`bpdu`]: spanning-tree BPDUs exactly as `vde_switch -F` sends them.

pub mod bpdu;
