//! The store on a full disk, for real: the data directory is a 2 MiB tmpfs the test mounts
//! (root only) and fills. Writes then fail with 5xx, `/readyz` answers 503, nothing of a failed
//! write is visible; once space is freed writes succeed again and `/readyz` answers 200; after
//! a restart exactly the acknowledged writes are there.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{Api, TestResult};

/// A tmpfs mounted on a fresh directory; unmounted (lazily, so open files do not stop it) when
/// dropped, also when the test fails.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> TestResult<Tmpfs> {
        let dir = tempfile::tempdir()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()?;
        if !status.success() {
            return Err(format!("mount tmpfs on {}: {status}", dir.path().display()).into());
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        match Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status()
        {
            Ok(s) if s.success() => {}
            other => eprintln!("umount {}: {other:?}", self.dir.path().display()),
        }
    }
}

/// Writes zeros into `path` until the filesystem is full; returns how many bytes fit.
fn fill(path: &Path) -> TestResult<u64> {
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![0u8; 4096];
    let mut written = 0u64;
    // A 2 MiB tmpfs holds at most 512 chunks; the bound only guards against a wrong mount.
    for _ in 0..100_000 {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => return Err(e.into()),
        }
    }
    // Flushing may hit ENOSPC too; the file is full either way.
    let _ = file.flush();
    Ok(written)
}

fn service(name: &str) -> serde_json::Value {
    // Some bulk per object, so that the disk fills within a bounded number of writes.
    json!({"metadata": {"name": name, "annotations": {"pad": "p".repeat(16 * 1024)}},
        "spec": {"ports": [{"port": 80}]}})
}

async fn readyz(api: &Api) -> TestResult<u16> {
    Ok(api.get("/readyz").await?.code)
}

#[tokio::test]
async fn a_full_disk_fails_writes_cleanly_and_the_store_recovers_when_space_is_freed() -> TestResult
{
    if !testkit::require_root(
        "a_full_disk_fails_writes_cleanly_and_the_store_recovers_when_space_is_freed",
        "it mounts a tmpfs",
    ) {
        return Ok(());
    }
    let disk = Tmpfs::mount("2m")?;
    let data = disk.path().join("data");
    let filler: PathBuf = disk.path().join("filler");
    let ns = "full-disk";
    let mut acknowledged = BTreeSet::new();
    {
        let cp = support::start(&data, 100).await?;
        let api = Api::for_plane(&cp);
        api.namespace(ns).await?;
        assert_eq!(readyz(&api).await?, 200);
        for name in ["before-1", "before-2", "before-3"] {
            let r = api
                .post(&format!("/api/v1/namespaces/{ns}/services"), &service(name))
                .await?;
            assert_eq!(r.code, 201, "{}", r.body);
            acknowledged.insert(name.to_string());
        }
        let fitted = fill(&filler)?;
        assert!(fitted > 0, "the filler got no space at all");

        // Write until the disk refuses (bounded: the store has little room left).
        let mut failed = None;
        for i in 0..200 {
            let name = format!("s{i}");
            let r = api
                .post(
                    &format!("/api/v1/namespaces/{ns}/services"),
                    &service(&name),
                )
                .await?;
            match r.code {
                201 => {
                    acknowledged.insert(name);
                }
                500 | 503 => {
                    failed = Some((name, r.body));
                    break;
                }
                other => return Err(format!("{name}: unexpected {other}: {}", r.body).into()),
            }
        }
        let Some((lost, status)) = failed else {
            return Err("200 writes fit on a full 2 MiB disk".into());
        };
        assert_eq!(status["kind"], "Status", "{status}");
        eprintln!(
            "{} writes fitted; {lost} failed: {}",
            acknowledged.len(),
            status["message"]
        );
        // The writer flags the failure before it answers.
        let ready = api.get("/readyz").await?;
        assert_eq!(ready.code, 503, "{:?}", ready.body);
        // Nothing of the failed write is visible.
        let r = api
            .get(&format!("/api/v1/namespaces/{ns}/services/{lost}"))
            .await?;
        assert_eq!(r.code, 404, "{}", r.body);
        let listed = api
            .get(&format!("/api/v1/namespaces/{ns}/services"))
            .await?;
        let names: BTreeSet<String> = support::item_names(&listed.body).into_iter().collect();
        assert_eq!(names, acknowledged);
        // Still full: still not ready, and a write still fails.
        let r = api
            .post(
                &format!("/api/v1/namespaces/{ns}/services"),
                &service("still-full"),
            )
            .await?;
        assert!(r.code >= 500, "{} {}", r.code, r.body);
        assert_eq!(readyz(&api).await?, 503);

        std::fs::remove_file(&filler)?;
        // Writes succeed again once the writer has reopened the database (bounded polling:
        // the backoff is at most 5 s).
        let mut recovered = false;
        for _ in 0..100 {
            let r = api
                .post(
                    &format!("/api/v1/namespaces/{ns}/services"),
                    &service("after"),
                )
                .await?;
            if r.code == 201 {
                acknowledged.insert("after".to_string());
                recovered = true;
                break;
            }
            assert!(r.code >= 500, "{} {}", r.code, r.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            recovered,
            "writes did not recover after the filler was removed"
        );
        assert_eq!(readyz(&api).await?, 200);
        cp.shutdown().await;
    }
    // After a restart, exactly the acknowledged writes are there.
    let cp = support::start(&data, 100).await?;
    let api = Api::for_plane(&cp);
    let listed = api
        .get(&format!("/api/v1/namespaces/{ns}/services"))
        .await?;
    let names: BTreeSet<String> = support::item_names(&listed.body).into_iter().collect();
    assert_eq!(names, acknowledged);
    cp.shutdown().await;
    Ok(())
}
