//! One AFL++ entry point for every target, chosen by `KEYHOLE_FUZZ_TARGET`
//! (policy_file, route, transform, token). A violated property panics, which
//! AFL++ records as a crash. See docs/hostile-input.md.

fn main() {
    let name = std::env::var("KEYHOLE_FUZZ_TARGET").unwrap_or_default();
    let Some(target) = keyhole_fuzz::TARGETS.iter().find(|t| t.name == name) else {
        eprintln!("set KEYHOLE_FUZZ_TARGET to one of policy_file, route, transform, token");
        std::process::exit(2);
    };
    let check = target.check;
    afl::fuzz!(|data: &[u8]| {
        if let Err(violation) = check(data) {
            panic!("{violation}");
        }
    });
}
