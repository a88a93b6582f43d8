//! Progress bars for operations spanning many boxes: a [`BoxStore`] that counts the boxes it
//! writes and reads into an indicatif bar. Bars draw on stderr, and only when stdout is a
//! terminal and `--json` is off.

use std::io::IsTerminal;
use std::sync::Arc;

use async_trait::async_trait;
use bacap::{BoxId, SealedBox, WriteCap};
use pigeonhole::store::{BoxStore, CopyStatus, ReadOutcome, StoreError, WriteOutcome};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar for a command, shared with the store that counts into it.
pub struct Progress {
    /// The bar.
    pub bar: ProgressBar,
}

impl Progress {
    /// A bar of `len` boxes, or a spinner counting boxes when `len` is `None`.
    pub fn boxes(len: Option<u64>, message: &str, json: bool) -> Self {
        Self {
            bar: bar(len, message, json),
        }
    }
}

/// A bar (hidden when stdout is not a terminal or `json` is set) of `len` boxes, or a spinner
/// counting boxes when `len` is `None`.
fn bar(len: Option<u64>, message: &str, json: bool) -> ProgressBar {
    let pb = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    if json || !std::io::stdout().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = match len {
        Some(_) => ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} boxes ({elapsed})"),
        None => ProgressStyle::with_template("{spinner} {msg}: {pos} boxes ({elapsed})"),
    }
    .expect("static template")
    .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(message.to_owned());
    pb
}

/// A store that advances `bar` by one per box written or read.
pub struct Counting {
    inner: Arc<dyn BoxStore>,
    bar: ProgressBar,
}

impl Counting {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn BoxStore>, bar: ProgressBar) -> Arc<dyn BoxStore> {
        Arc::new(Self { inner, bar })
    }
}

#[async_trait]
impl BoxStore for Counting {
    async fn write(&self, sealed: &SealedBox) -> Result<WriteOutcome, StoreError> {
        let r = self.inner.write(sealed).await;
        if r.is_ok() {
            self.bar.inc(1);
        }
        r
    }

    async fn read_many(&self, ids: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        let r = self.inner.read_many(ids).await;
        if let Ok(outcomes) = &r {
            let found = outcomes
                .iter()
                .filter(|o| matches!(o, ReadOutcome::Found(_)))
                .count();
            self.bar.inc(found as u64);
        }
        r
    }

    async fn copy(&self, temp: &WriteCap) -> Result<CopyStatus, StoreError> {
        self.inner.copy(temp).await
    }

    async fn copy_status(&self, key: &[u8; 32]) -> Result<Option<CopyStatus>, StoreError> {
        self.inner.copy_status(key).await
    }
}
