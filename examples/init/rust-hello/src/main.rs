//! rust-hello: std only; prints a greeting with the user it runs as (from the environment-free
//! /proc view of its own uid) so the production image shows it is not root.
use std::fs;

fn main() {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    println!("hello from rust-hello uid={uid}");
}
