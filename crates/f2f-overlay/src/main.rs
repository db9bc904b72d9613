//! The `f2f-overlay` binary.

fn main() {
    println!("f2f-overlay: under construction");
}
