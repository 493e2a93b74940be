//! Reloads files that change on disk: a directory watch (Kubernetes Secret and
//! ConfigMap volumes swap a `..data` symlink, so files are never watched
//! directly) plus a periodic re-read as a fallback for missed events.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Opening and reading are access events; the reload itself reads the
        // files, so reacting to those would reload every 100 ms for ever.
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    });
    let mut dirs: Vec<PathBuf> = files.iter().map(|f| parent_dir(f)).collect();
    dirs.sort();
    dirs.dedup();
    let watcher = match watcher {
        Ok(mut w) => {
            for dir in &dirs {
                if let Err(e) = w.watch(dir, RecursiveMode::NonRecursive) {
                    tracing::warn!(what, dir = %dir.display(), error = %e, "cannot watch directory; relying on the periodic re-read");
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
        let _keep = watcher;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut events_open = true;
        loop {
            tokio::select! {
                got = rx.recv(), if events_open => {
                    if got.is_none() {
                        events_open = false;
                        continue;
                    }
                    // Let a burst of events (a symlink swap is several) settle.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    while rx.try_recv().is_ok() {}
                }
                _ = tick.tick() => {}
            }
            reload();
        }
    })
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
        let after_write =
            settle(&reloads, Duration::from_millis(600), Duration::from_secs(5)).await;
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
        let after_swap = settle(&reloads, Duration::from_millis(600), Duration::from_secs(5)).await;
        assert!(
            after_swap > later,
            "a rename into place must trigger a reload"
        );
        task.abort();
    }
}
