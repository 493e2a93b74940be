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
        if event.is_ok() {
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
