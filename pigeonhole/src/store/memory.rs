//! An in-memory [`BoxStore`] with the same semantics as the courier simulator, for tests.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::rules::{
    check_box, copy_key, plan_copy, verdict, BoxLookup, Verification, WriteVerdict,
};
use super::{BoxStore, CopyStatus, ReadOutcome, ReplyCode, StoreError, WriteOutcome};
use crate::padding::PaddedGeometry;
use bacap::Geometry;
use bacap::WriteCap;
use bacap::{BoxId, SealedBox};

#[derive(Default)]
struct Inner {
    boxes: HashMap<BoxId, SealedBox>,
    copies: HashMap<[u8; 32], CopyStatus>,
}

impl BoxLookup for Inner {
    fn get(&self, id: &BoxId) -> Result<Option<SealedBox>, ReplyCode> {
        Ok(self.boxes.get(id).cloned())
    }
}

/// Boxes in a hash map behind a mutex. Every operation is atomic.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    geometry: PaddedGeometry,
}

impl MemoryStore {
    /// An empty store for padded boxes carrying messages of `geometry`: it accepts payloads of
    /// exactly [`PaddedGeometry::payload_len`] bytes, or empty ones.
    pub fn new(geometry: Geometry) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            geometry: PaddedGeometry::new(geometry),
        }
    }

    /// How many boxes (tombstones included) it holds.
    pub fn len(&self) -> usize {
        self.lock().boxes.len()
    }

    /// Whether it holds no box.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload length of every box it holds (0 for a tombstone), in no particular order:
    /// what an observer of the storage learns about sizes.
    pub fn payload_lens(&self) -> Vec<usize> {
        self.lock()
            .boxes
            .values()
            .map(|b| b.payload.len())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated: every update is a
        // single insert or an extend computed beforehand.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(Geometry::default())
    }
}

#[async_trait]
impl BoxStore for MemoryStore {
    async fn write(&self, sealed: &SealedBox) -> Result<WriteOutcome, StoreError> {
        let checked = check_box(sealed.clone(), self.geometry).map_err(StoreError::Rejected)?;
        let mut inner = self.lock();
        match verdict(inner.boxes.get(&sealed.box_id), &checked) {
            WriteVerdict::Store => {
                inner.boxes.insert(sealed.box_id, checked.into_inner());
                Ok(WriteOutcome::Stored)
            }
            WriteVerdict::Unchanged(outcome) => Ok(outcome),
        }
    }

    async fn read_many(&self, ids: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .map(|id| match inner.boxes.get(id) {
                None => ReadOutcome::NotFound,
                Some(b) if b.is_tombstone() => ReadOutcome::Tombstone(b.clone()),
                Some(b) => ReadOutcome::Found(b.clone()),
            })
            .collect())
    }

    async fn copy(&self, temp: &WriteCap) -> Result<CopyStatus, StoreError> {
        let key = copy_key(temp);
        let mut inner = self.lock();
        if let Some(status) = inner.copies.get(&key) {
            return Ok(*status);
        }
        let status = match plan_copy(&*inner, temp, self.geometry, Verification::Each) {
            Ok(boxes) => {
                inner.boxes.extend(boxes.into_iter().map(|b| (b.box_id, b)));
                CopyStatus::Succeeded
            }
            Err(failure) => CopyStatus::Failed(failure),
        };
        inner.copies.insert(key, status);
        Ok(status)
    }

    async fn copy_status(&self, key: &[u8; 32]) -> Result<Option<CopyStatus>, StoreError> {
        Ok(self.lock().copies.get(key).copied())
    }
}
