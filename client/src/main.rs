//! `lanchat`: the terminal client (placeholder until the client issue lands; use `nc` meanwhile).

fn main() {
    eprintln!("lanchat: the terminal client is not built yet; join with `nc HOST 7070`");
    std::process::exit(2);
}
