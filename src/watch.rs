//! Reloads files that change on disk: a directory watch (Kubernetes Secret and
//! ConfigMap volumes swap a `..data` symlink, so files are never watched
//! directly) plus a periodic re-read as a fallback for missed events.
//!
//! The parent of each directory is watched too, so that a directory deleted
//! and made again is watched again at once. A reload waits until the files
//! are stable: a file written in place (an editor, `cat >`) is read only
//! once its size and modification time have stayed the same for
//! [`SETTLE`], never half-written. (A ConfigMap or Secret volume update is
//! an atomic swap and settles at once.)

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Calls `reload` whenever something in the directories of `files` changes,
/// and every `interval`. `reload` must be cheap when nothing changed (compare
/// the bytes read with the last ones). Abort the returned task to stop.
pub fn spawn<F>(
    what: &'static str,
    files: &[PathBuf],
    interval: Duration,
    reload: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    // Absolute (symlinks kept), so that the paths of events compare equal.
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| {
            let dir = parent_dir(f);
            std::path::absolute(&dir).unwrap_or(dir)
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let ours = dirs.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Opening and reading are access events; the reload itself reads the
        // files, so reacting to those would reload every 100 ms for ever.
        // From a parent folder only the watched folders themselves count.
        if let Ok(e) = event
            && !e.kind.is_access()
            && e.paths.iter().any(|p| {
                ours.contains(p) || p.parent().is_some_and(|d| ours.iter().any(|o| o == d))
            })
        {
            let _ = tx.send(e.paths);
        }
    });
    let mut parents: Vec<PathBuf> = dirs.iter().map(|d| parent_dir(d)).collect();
    parents.sort();
    parents.dedup();
    parents.retain(|p| !dirs.contains(p));
    let files = files.to_vec();
    let watcher = match watcher {
        Ok(mut w) => {
            for dir in &dirs {
                if let Err(e) = w.watch(dir, RecursiveMode::NonRecursive) {
                    tracing::warn!(what, dir = %dir.display(), error = %e, "cannot watch directory; relying on the periodic re-read");
                }
            }
            for parent in &parents {
                // Only to see the directory itself go and come back.
                if let Err(e) = w.watch(parent, RecursiveMode::NonRecursive) {
                    tracing::debug!(what, dir = %parent.display(), error = %e, "cannot watch the parent directory");
                }
            }
            Some(w)
        }
        Err(e) => {
            tracing::warn!(what, error = %e, "no file watcher; relying on the periodic re-read");
            None
        }
    };
    tokio::spawn(async move {
        let mut watcher = watcher;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut events_open = true;
        loop {
            tokio::select! {
                got = rx.recv(), if events_open => {
                    let Some(mut paths) = got else {
                        events_open = false;
                        continue;
                    };
                    // Let a burst of events (a symlink swap is several) settle.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    while let Ok(more) = rx.try_recv() {
                        paths.extend(more);
                    }
                    // A watched directory made again (or removed): watch it anew.
                    if let Some(w) = watcher.as_mut() {
                        for dir in dirs.iter().filter(|d| paths.contains(d)) {
                            let _ = w.unwatch(dir);
                            if dir.is_dir() {
                                match w.watch(dir, RecursiveMode::NonRecursive) {
                                    Ok(()) => tracing::debug!(what, dir = %dir.display(), "directory watched again"),
                                    Err(e) => tracing::warn!(what, dir = %dir.display(), error = %e, "cannot watch directory again; relying on the periodic re-read"),
                                }
                            }
                        }
                    }
                }
                _ = tick.tick() => {}
            }
            settle(&files).await;
            while rx.try_recv().is_ok() {}
            reload();
        }
    })
}

/// How long files must stay unchanged before they are read.
pub const SETTLE: Duration = Duration::from_millis(400);

/// Size and modification time of each file (through symlinks), `None` when missing.
fn stamps(files: &[PathBuf]) -> Vec<Option<(u64, Option<SystemTime>)>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .map(|m| (m.len(), m.modified().ok()))
        })
        .collect()
}

/// Waits until no file changed for [`SETTLE`] (at most 20 times that, so
/// that a file rewritten without pause is still read, and judged).
async fn settle(files: &[PathBuf]) {
    let mut before = stamps(files);
    for _ in 0..20 {
        // Files written long ago are stable now: no need to wait.
        let recent = before.iter().flatten().any(|(_, m)| {
            m.and_then(|m| m.elapsed().ok())
                .is_none_or(|age| age < SETTLE)
        });
        if !recent {
            return;
        }
        tokio::time::sleep(SETTLE).await;
        let now = stamps(files);
        if now == before {
            return;
        }
        before = now;
    }
}

fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Waits until `count` stops moving for `quiet`, up to `limit`.
    async fn settle(count: &AtomicUsize, quiet: Duration, limit: Duration) -> usize {
        let start = tokio::time::Instant::now();
        let mut last = count.load(Ordering::SeqCst);
        let mut since = tokio::time::Instant::now();
        while start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = count.load(Ordering::SeqCst);
            if now != last {
                last = now;
                since = tokio::time::Instant::now();
            } else if since.elapsed() >= quiet {
                break;
            }
        }
        last
    }

    #[tokio::test]
    async fn reading_the_files_does_not_trigger_a_reload_but_writing_them_does() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tls.crt");
        std::fs::write(&file, "one").unwrap();
        let reloads = Arc::new(AtomicUsize::new(0));
        let (counter, path) = (reloads.clone(), file.clone());
        // A reload reads the file, as the certificate and config reloads do;
        // the periodic re-read is far away.
        let task = spawn(
            "test",
            std::slice::from_ref(&file),
            Duration::from_secs(3600),
            move || {
                std::fs::read(&path).unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
            },
        );

        tokio::time::sleep(Duration::from_millis(200)).await;
        std::fs::write(&file, "two").unwrap();
        // A reload waits for the files to settle: quiet for longer than that.
        let quiet = SETTLE + Duration::from_millis(600);
        let after_write = settle(&reloads, quiet, Duration::from_secs(5)).await;
        assert!(after_write >= 1, "a write must trigger a reload");
        // Quiet now: the reload's own reads must not feed back into reloads.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let later = reloads.load(Ordering::SeqCst);
        assert_eq!(
            later, after_write,
            "reloads kept coming with nothing written"
        );

        // A Secret volume update is an atomic rename in the directory.
        std::fs::write(dir.path().join("..new"), "three").unwrap();
        std::fs::rename(dir.path().join("..new"), &file).unwrap();
        let after_swap = settle(&reloads, quiet, Duration::from_secs(5)).await;
        assert!(
            after_swap > later,
            "a rename into place must trigger a reload"
        );
        task.abort();
    }

    #[tokio::test]
    async fn a_directory_deleted_and_made_again_is_watched_again() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("certs");
        std::fs::create_dir(&dir).unwrap();
        let file = dir.join("tls.crt");
        std::fs::write(&file, "one").unwrap();
        let reloads = Arc::new(AtomicUsize::new(0));
        let counter = reloads.clone();
        let task = spawn(
            "test",
            std::slice::from_ref(&file),
            Duration::from_secs(3600),
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
            },
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        std::fs::remove_dir_all(&dir).unwrap();
        settle_count(&reloads).await;
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(&file, "two").unwrap();
        let after_recreate = settle_count(&reloads).await;
        // Now a write inside the new directory must be seen by its own watch.
        std::fs::write(&file, "three!").unwrap();
        let after_write = settle_count(&reloads).await;
        assert!(
            after_write > after_recreate,
            "a write in the recreated directory was not seen ({after_recreate} -> {after_write})"
        );
        task.abort();
    }

    async fn settle_count(count: &AtomicUsize) -> usize {
        settle(
            count,
            SETTLE + Duration::from_millis(600),
            Duration::from_secs(6),
        )
        .await
    }
}
