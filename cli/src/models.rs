//! `blickfang models list|install`: the models the elements use, each checked
//! against its SHA-256, copied from a mirror folder or fetched from upstream.
//!
//! The one model list is `scripts/models.txt` (`make setup` reads it too; the
//! Debian package ships it as /usr/share/blickfang/models.txt): built in here,
//! so the binary and its list cannot disagree. No model weights are packaged:
//! the default age/gender model's upstream has no licence file and every model
//! was trained on research-only data, so installing them is the operator's act.
//!
//! `install` also makes gazedwell's FSA-Net pair file from the two upstream
//! files (blickfang::headpose::pair), SHA-256 checked like the list's models.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use blickfang::headpose::pair;
use sha2::{Digest, Sha256};

/// The model list, `<sha256> <path under models/> <upstream URL or ->` per line.
pub const LIST: &str = include_str!("../../scripts/models.txt");

/// Where root's `blickfang models install` puts the models (a data dir the
/// elements search, see blickfang::runtime): written by a command, not owned by
/// the package, hence /var/lib and not /usr/share.
pub const SYSTEM_MODEL_DIR: &str = "/var/lib/blickfang/models";

/// One model of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// Path under a models folder, e.g. `face/yunet_s_dynamic.onnx`.
    pub path: String,
    /// Where upstream publishes it; `None` for files only a mirror holds.
    pub url: Option<String>,
}

/// Parses the model list; a malformed line is an error naming its number.
pub fn parse(list: &str) -> Result<Vec<Model>> {
    let mut models = Vec::new();
    for (n, line) in list.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [sha256, path, url] = fields[..] else {
            bail!("model list line {}: expected `<sha256> <path> <url or ->`, got {line:?}", n + 1);
        };
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("model list line {}: {sha256:?} is not a SHA-256", n + 1);
        }
        if path.starts_with('/') || path.split('/').any(|c| c == ".." || c.is_empty()) {
            bail!("model list line {}: {path:?} is not a relative path", n + 1);
        }
        models.push(Model {
            sha256: sha256.to_ascii_lowercase(),
            path: path.to_string(),
            url: (url != "-").then(|| url.to_string()),
        });
    }
    Ok(models)
}

/// Lower-case hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The folder `install` writes to without `--to`: `$BLICKFANG_MODEL_DIR`, else
/// [`SYSTEM_MODEL_DIR`] for root, else the user's data dir (`make setup`'s place).
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(blickfang::runtime::MODEL_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    // The owner of /proc/self is the process's effective user: no libc call needed.
    let root = {
        use std::os::unix::fs::MetadataExt;
        fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
    };
    if root {
        return PathBuf::from(SYSTEM_MODEL_DIR);
    }
    let data_dirs = blickfang::runtime::data_dirs();
    // data_dirs() starts with $BLICKFANG_DATA_DIR when set, then the XDG one.
    data_dirs.into_iter().next().unwrap_or_else(|| PathBuf::from(".")).join("models")
}

#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ModelsCommand {
    /// The model list: path, SHA-256, upstream URL, and where each is installed.
    List,
    /// Installs every model of the list, SHA-256 checked (a second run only checks).
    Install {
        /// A mirror folder with the same layout (face/..., agegender/..., headpose/...);
        /// models not in it are fetched from upstream where the list has a URL.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// The models folder to write (default: $BLICKFANG_MODEL_DIR, else
        /// /var/lib/blickfang/models as root, else ~/.local/share/blickfang/models).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
}

pub fn run(args: ModelsArgs) -> Result<()> {
    let models = parse(LIST)?;
    match args.command {
        ModelsCommand::List => {
            let mut out = std::io::stdout().lock();
            // The pair file last: `install` makes it rather than fetching it.
            let made = (pair::PAIR_MODEL, pair::PAIR_SHA256, "(made by install from the upstream files)");
            let rows = models.iter().map(|m| (m.path.as_str(), m.sha256.as_str(), m.url.as_deref().unwrap_or("-")));
            for (path, sha256, url) in rows.chain([made]) {
                let found = blickfang::runtime::find_model(path).ok();
                let state = match &found {
                    Some(p) if sha256_file(p).ok().as_deref() == Some(sha256) => p.display().to_string(),
                    Some(p) => format!("{} (SHA-256 differs)", p.display()),
                    None => "not installed".to_string(),
                };
                let line = format!("{path}  {sha256}  {url}  {state}");
                match writeln!(out, "{line}") {
                    // The reader went away (`| head`): nothing more to say.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    other => other.context("cannot write to standard output")?,
                }
            }
            Ok(())
        }
        ModelsCommand::Install { from, to } => install(&models, from.as_deref(), &to.unwrap_or_else(default_dir)),
    }
}

/// Installs `models` into `dest`; tries every model and then names all that failed.
pub fn install(models: &[Model], from: Option<&Path>, dest: &Path) -> Result<()> {
    if let Some(dir) = from
        && !dir.is_dir()
    {
        bail!("--from {}: not a folder", dir.display());
    }
    let mut failed: Vec<String> = Vec::new();
    fn report(failed: &mut Vec<String>, path: &str, result: Result<Option<String>>) {
        match result {
            Ok(Some(how)) => eprintln!("blickfang: {path} {how}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("blickfang: {path}: {e:#}");
                failed.push(path.to_string());
            }
        }
    }
    for m in models {
        report(&mut failed, &m.path, install_one(m, from, dest));
    }
    let mut total = models.len();
    // The pair file, once both upstream files are in place (a list without them makes none).
    let upstream_listed = pair::UPSTREAM_MODELS.iter().all(|u| models.iter().any(|m| m.path == *u));
    if upstream_listed {
        total += 1;
        if pair::UPSTREAM_MODELS.iter().any(|u| failed.iter().any(|f| f == u)) {
            eprintln!("blickfang: {}: not made, its upstream files are missing", pair::PAIR_MODEL);
            failed.push(pair::PAIR_MODEL.to_string());
        } else {
            report(&mut failed, pair::PAIR_MODEL, install_pair(dest));
        }
    }
    if !failed.is_empty() {
        bail!("{} of {total} models not installed in {}: {}", failed.len(), dest.display(), failed.join(", "));
    }
    eprintln!("blickfang: {total} models verified in {}", dest.display());
    Ok(())
}

/// gazedwell's FSA-Net pair file, made from the upstream files in `dest`:
/// `Ok(None)`: already there and verified; `Ok(Some(how))`: made.
pub fn install_pair(dest: &Path) -> Result<Option<String>> {
    let target = dest.join(pair::PAIR_MODEL);
    if target.is_file() && sha256_file(&target)? == pair::PAIR_SHA256 {
        return Ok(None);
    }
    let read = |rel: &str| {
        let p = dest.join(rel);
        fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
    };
    let bytes = pair::make_pair(&read(pair::UPSTREAM_MODELS[0])?, &read(pair::UPSTREAM_MODELS[1])?)?;
    let got = sha256_hex(&bytes);
    if got != pair::PAIR_SHA256 {
        bail!("SHA-256 mismatch (made from the upstream files): expected {}, got {got}", pair::PAIR_SHA256);
    }
    let part = target.with_extension("onnx.part");
    fs::write(&part, &bytes).with_context(|| format!("cannot write {}", part.display()))?;
    fs::rename(&part, &target).with_context(|| format!("cannot move {} to {}", part.display(), target.display()))?;
    Ok(Some("made from the two upstream files".to_string()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `Ok(None)`: already there and verified; `Ok(Some(how))`: installed.
fn install_one(m: &Model, from: Option<&Path>, dest: &Path) -> Result<Option<String>> {
    let target = dest.join(&m.path);
    if target.is_file() && sha256_file(&target)? == m.sha256 {
        return Ok(None);
    }
    let parent = target.parent().unwrap_or(dest);
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let part = target.with_extension("onnx.part");
    let source = from.map(|d| d.join(&m.path)).filter(|p| p.is_file());
    let how = match (source, &m.url) {
        (Some(src), _) => {
            fs::copy(&src, &part).with_context(|| format!("cannot copy {} to {}", src.display(), part.display()))?;
            format!("copied from {}", src.display())
        }
        (None, Some(url)) => {
            fetch(url, &part)?;
            format!("downloaded from {url}")
        }
        (None, None) => match from {
            Some(dir) => bail!("not in {} and upstream publishes no download: copy it from a mirror", dir.display()),
            None => bail!("upstream publishes no download: give a mirror with --from DIR"),
        },
    };
    let got = sha256_file(&part)?;
    if got != m.sha256 {
        let _ = fs::remove_file(&part);
        bail!("SHA-256 mismatch ({how}): expected {}, got {got}", m.sha256);
    }
    fs::rename(&part, &target).with_context(|| format!("cannot move {} to {}", part.display(), target.display()))?;
    Ok(Some(how))
}

/// curl, as scripts/setup.sh uses: keeps an HTTP/TLS stack out of the binary.
fn fetch(url: &str, to: &Path) -> Result<()> {
    let status = Command::new("curl")
        .args(["-fsSL", "--retry", "2", "-o"])
        .arg(to)
        .arg(url)
        .status()
        .context("cannot run curl (install the curl package, or give a mirror with --from DIR)")?;
    if !status.success() {
        let _ = fs::remove_file(to);
        bail!("curl could not fetch {url} ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_list_parses() {
        let models = parse(LIST).unwrap();
        assert!(models.iter().any(|m| m.path == "face/yunet_s_dynamic.onnx" && m.url.is_some()));
        assert!(models.iter().any(|m| m.path == "agegender/faceres_hse_agegender.onnx" && m.url.is_none()));
    }

    #[test]
    fn bad_lines_name_their_number() {
        let e = parse("# c\n\nabc face/x.onnx -\n").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("not a SHA-256"), "{e}");
        let sha = "a".repeat(64);
        let e = parse(&format!("{sha} ../x.onnx -")).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("not a relative path"), "{e}");
        let e = parse(&format!("{sha} x.onnx")).unwrap_err().to_string();
        assert!(e.contains("expected"), "{e}");
    }

    #[test]
    fn install_verifies_and_names_what_failed() {
        let tmp = std::env::temp_dir().join(format!("blickfang-models-test-{}", std::process::id()));
        let mirror = tmp.join("mirror");
        fs::create_dir_all(mirror.join("face")).unwrap();
        fs::write(mirror.join("face/good.onnx"), b"good").unwrap();
        fs::write(mirror.join("face/bad.onnx"), b"tampered").unwrap();
        let good_sha = "770e607624d689265ca6c44884d0807d9b054d23c473c106c72be9de08b7376c".to_string();
        assert_eq!(sha256_file(&mirror.join("face/good.onnx")).unwrap(), good_sha);
        let list = [
            Model { sha256: good_sha.clone(), path: "face/good.onnx".into(), url: None },
            Model { sha256: good_sha, path: "face/bad.onnx".into(), url: None },
            Model { sha256: "0".repeat(64), path: "face/absent.onnx".into(), url: None },
        ];
        let dest = tmp.join("models");
        let e = install(&list, Some(&mirror), &dest).unwrap_err().to_string();
        assert!(e.contains("2 of 3") && e.contains("face/bad.onnx") && e.contains("face/absent.onnx"), "{e}");
        assert_eq!(fs::read(dest.join("face/good.onnx")).unwrap(), b"good");
        assert!(!dest.join("face/bad.onnx").exists() && !dest.join("face/bad.onnx.part").exists());
        // A second run only checks the installed one.
        install(&list[..1], None, &dest).unwrap();
        fs::remove_dir_all(&tmp).unwrap();
    }

    /// The pair file made in Rust from the real upstream files has the bytes
    /// the former scripts/fsanet_pair.py made (the pinned SHA-256), and install
    /// makes it after copying them, remaking a wrong one.
    #[test]
    fn install_makes_the_fsanet_pair_with_the_pinned_sha256() {
        let mirror = blickfang::eval::shared_dir().join("models");
        for rel in pair::UPSTREAM_MODELS {
            let p = mirror.join(rel);
            assert!(p.is_file(), "{} is missing (set BLICKFANG_SHARED_DIR)", p.display());
        }
        let list: Vec<Model> =
            parse(LIST).unwrap().into_iter().filter(|m| pair::UPSTREAM_MODELS.contains(&m.path.as_str())).collect();
        assert_eq!(list.len(), 2, "both upstream files are in the model list");
        let tmp = std::env::temp_dir().join(format!("blickfang-pair-test-{}", std::process::id()));
        let dest = tmp.join("models");
        install(&list, Some(&mirror), &dest).unwrap();
        let made = dest.join(pair::PAIR_MODEL);
        assert_eq!(sha256_file(&made).unwrap(), pair::PAIR_SHA256);
        assert_eq!(install_pair(&dest).unwrap(), None, "a second run only checks");
        fs::write(&made, b"stale").unwrap();
        assert!(install_pair(&dest).unwrap().is_some());
        assert_eq!(sha256_file(&made).unwrap(), pair::PAIR_SHA256);
        // Without its upstream files the pair is named among the failures.
        fs::remove_file(dest.join(pair::UPSTREAM_MODELS[1])).unwrap();
        let offline: Vec<Model> = list.into_iter().map(|m| Model { url: None, ..m }).collect();
        let e = install(&offline, Some(&tmp), &dest).unwrap_err().to_string();
        assert!(e.contains("2 of 3") && e.contains(pair::PAIR_MODEL), "{e}");
        fs::remove_dir_all(&tmp).unwrap();
    }
}
