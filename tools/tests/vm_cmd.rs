//! `make vm CMD='...'` and `scripts/vm.sh -- ARGS` hand the guest the command
//! as written: no `$` expanded by make or the host's shell, every argument
//! kept whole. Checked with `PAGEARENA_VM_PRINT=1` (what the guest would
//! run, without booting it), then run by a shell as the guest's would.

use std::process::Command;

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stdout(c: &mut Command) -> String {
    let o = c.output().expect("run");
    assert!(
        o.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .trim_end_matches('\n')
        .to_string()
}

#[test]
fn make_vm_passes_cmd_verbatim() {
    for cmd in [
        "r=$?; exit $r",
        r#"insmod build/perf/pagearena.ko && for s in a b; do echo "$s" 'it''s'; done"#,
        "echo $$ `id -u` \\$HOME 100%",
    ] {
        let printed = stdout(
            Command::new("make")
                .args(["-s", "--no-print-directory", "vm-print"])
                .arg(format!("CMD={cmd}"))
                .current_dir(repo()),
        );
        assert_eq!(printed, cmd);
    }
}

#[test]
fn vm_sh_keeps_each_argument_whole() {
    let args = ["a b", "$HOME", "it's", "*", "--filter=x y"];
    let printed = stdout(
        Command::new("bash")
            .args(["scripts/vm.sh", "debug", "--", "printf", "%s\\n"])
            .args(args)
            .env("PAGEARENA_VM_PRINT", "1")
            .current_dir(repo()),
    );
    // The guest's shell runs it: the arguments come out one per line.
    let out = stdout(Command::new("sh").arg("-c").arg(&printed));
    assert_eq!(out.lines().collect::<Vec<_>>(), args);
}
