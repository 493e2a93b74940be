//! The metrics upkeep keeps memory flat when nobody scrapes `/metrics`: the
//! recorder keeps every latency sample until upkeep (or a scrape) folds it
//! into the histogram's buckets (metrics-exporter-prometheus, `AtomicBucket`
//! in metrics-util), so without it a guard nobody scrapes grows with every
//! review. The server started here runs the upkeep as `serve` does; reviews
//! are recorded directly, 300,000 at a time (about 16 bytes each without
//! upkeep: measured 4.7 MiB a round with the upkeep removed).
//! Its own test binary: the process's RSS is the measure, and no other test
//! may allocate beside it.

mod common;

use std::time::Duration;

use longhorn_talos_guard::metrics;
use longhorn_talos_guard::policy::{Decision, RuleDecision};
use longhorn_talos_guard::server::{self, ServeOptions};

fn rss() -> u64 {
    common::served::rss_of(std::process::id()).expect("VmRSS of this process")
}

fn record(n: u32) {
    for i in 0..n {
        metrics::review(
            "validate",
            "Pod",
            "CREATE",
            Decision::Allowed,
            &[("LTG-W030", RuleDecision::Passed)],
            f64::from(i % 1000) * 1e-6,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_with_nobody_scraping() {
    let (dir, _ca) = common::dev_certs();
    let mut opts = ServeOptions {
        drain_timeout: Duration::from_secs(1),
        reload_interval: Duration::from_secs(3600),
        max_connections: 8,
        ..common::serve_options(dir.path())
    };
    // `--metrics-upkeep-seconds 200ms`: the default 5 s would make the test
    // wait 5 s per round for the same result.
    opts.limits.metrics_upkeep = Duration::from_millis(200);
    let facts = std::sync::Arc::new(longhorn_talos_guard::cluster::NoCluster);
    let running = server::start(&opts, facts).await.unwrap();

    const ROUND: u32 = 300_000;
    let mut after = Vec::new();
    for _ in 0..4 {
        record(ROUND);
        tokio::time::sleep(Duration::from_millis(800)).await;
        after.push(rss());
    }
    let mib = |b: u64| b as f64 / 1048576.0;
    eprintln!(
        "RSS after each round of {ROUND} reviews: {:?} MiB",
        after
            .iter()
            .map(|&b| (mib(b) * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
    // The first round sets the high-water mark (samples wait up to 200 ms);
    // three more rounds must not add to it. Measured with the upkeep
    // removed: 17.9, 22.7, 27.4, 32.1 MiB (14.2 MiB of growth); with it
    // 13.6, 13.7, 13.7, 13.7 MiB.
    let growth = after[3].saturating_sub(after[0]);
    assert!(
        growth < 3 * 1024 * 1024,
        "RSS grew {:.1} MiB over three rounds of {ROUND} reviews: {after:?}",
        mib(growth)
    );
    // The samples were folded, not dropped: the histogram counts them. (Not
    // always every one: a run of 4,000,000 counted 3,999,998, samples
    // recorded while an upkeep folded the bucket.)
    let text = metrics::render();
    let count = common::served::metric_value(
        &text,
        r#"ltg_admission_duration_seconds_count{endpoint="validate"}"#,
    );
    let recorded = f64::from(4 * ROUND);
    assert!(
        count <= recorded && count >= recorded * 0.9999,
        "{count} of {recorded} samples counted"
    );
    running.shutdown().await.unwrap();
}
