//! Group commit for the writes every poll and every delivery makes. SQLite
//! has one writer at a time, and each transaction costs a lock, a WAL
//! append and several round trips to the connection's thread; a thousand
//! polls finishing together would pay that a thousand times. Instead one
//! task takes what is queued, applies it in order in one transaction, and
//! answers each caller only once that transaction has committed: a write
//! acknowledged is a write on disk, exactly as before, just cheaper.
//!
//! A write that fails inside a group rolls the group back; each of its
//! writes is then tried alone, so one bad write fails only its own caller.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use std::collections::HashSet;

use super::{
    StoreError, claim_in, failed_in, failure_in, next_poll_in, not_modified_in, record_polls_in,
    renew_in, sent_in,
};
use crate::fetch::Validators;
use crate::store::{PollOutcome, PollRecord};

/// The most writes committed together.
const MAX_GROUP: usize = 64;

/// A write the group commit takes.
pub(super) enum Op {
    Poll(PollRecord),
    NotModified(Unchanged),
    Sent {
        id: String,
        at: i64,
    },
    /// A temporary failure (`next_attempt`) or a permanent one (`None`).
    Failed {
        id: String,
        error: String,
        next_attempt: Option<i64>,
    },
    Claim {
        ids: Vec<String>,
        now: i64,
        until: i64,
    },
    Renew {
        ids: Vec<String>,
        held: i64,
        until: Option<i64>,
    },
    Failure {
        source: String,
        kind: String,
        message: String,
        at: i64,
    },
    NextPoll {
        source: String,
        at: i64,
    },
}

/// A `304`, or a body identical to the last one.
pub(super) struct Unchanged {
    pub source: String,
    pub at: i64,
    pub validators: Option<Validators>,
    pub hint_secs: Option<i64>,
    pub next_poll: i64,
}

impl Op {
    /// The source whose poll this records, if it is one.
    fn poll_source(&self) -> Option<&str> {
        match self {
            Op::Poll(poll) => Some(&poll.source),
            Op::NotModified(unchanged) => Some(&unchanged.source),
            _ => None,
        }
    }
}

/// What a committed write answers.
pub(super) enum Done {
    Poll(PollOutcome),
    Written,
    Ids(HashSet<String>),
    Count(u32),
}

impl Done {
    pub(super) fn ids(self) -> Result<HashSet<String>, StoreError> {
        match self {
            Done::Ids(ids) => Ok(ids),
            _ => Err(mismatch()),
        }
    }

    pub(super) fn count(self) -> Result<u32, StoreError> {
        match self {
            Done::Count(n) => Ok(n),
            _ => Err(mismatch()),
        }
    }

    pub(super) fn poll(self) -> Result<PollOutcome, StoreError> {
        match self {
            Done::Poll(outcome) => Ok(outcome),
            _ => Err(mismatch()),
        }
    }
}

/// An answer of the wrong kind: a bug in this module, reported rather than
/// panicking in the middle of a poll.
fn mismatch() -> StoreError {
    StoreError::Group("internal error: a state write answered the wrong kind".into())
}

struct Write {
    op: Op,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// The handle on the writing task; the task ends when the store is
/// dropped, after what was queued.
pub(super) struct Writer {
    queue: mpsc::UnboundedSender<Write>,
}

impl Writer {
    /// Starts the writing task on the current runtime.
    pub(super) fn spawn(pool: SqlitePool) -> Writer {
        let (queue, writes) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, writes));
        Writer { queue }
    }

    /// Queues `op` and waits until it is committed (or failed).
    pub(super) async fn write(&self, op: Op) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Write { op, reply })
            .map_err(|_| StoreError::Db(sqlx::Error::WorkerCrashed))?;
        answer
            .await
            .map_err(|_| StoreError::Db(sqlx::Error::WorkerCrashed))?
    }
}

async fn run(pool: SqlitePool, mut writes: mpsc::UnboundedReceiver<Write>) {
    let mut queued = Vec::with_capacity(MAX_GROUP);
    while writes.recv_many(&mut queued, MAX_GROUP).await > 0 {
        let batch = std::mem::take(&mut queued);
        // In a task of its own: a panic costs only this batch's callers
        // (they see an error), not every later write.
        if let Err(e) = tokio::spawn(commit(pool.clone(), batch)).await {
            tracing::error!(error = %e, "a state write task failed");
        }
    }
}

/// Commits `batch` in as few transactions as it takes: a second poll of
/// the same source starts a new one, so that each poll sees the keys the
/// one before it recorded as already known.
async fn commit(pool: SqlitePool, mut batch: Vec<Write>) {
    while !batch.is_empty() {
        let mut sources = std::collections::HashSet::new();
        let end = batch
            .iter()
            .position(|w| w.op.poll_source().is_some_and(|s| !sources.insert(s)))
            .unwrap_or(batch.len());
        let rest = batch.split_off(end);
        commit_group(&pool, batch).await;
        batch = rest;
    }
}

async fn commit_group(pool: &SqlitePool, group: Vec<Write>) {
    let failed = match apply(pool, &group).await {
        Ok(done) => {
            for (write, done) in group.into_iter().zip(done) {
                let _ = write.reply.send(Ok(done));
            }
            return;
        }
        // The transaction could not even start (the file is locked past
        // the busy timeout, or unreadable): alone, each would fail the
        // same way after as long a wait.
        Err(Failure::Begin(e)) => {
            let message = e.to_string();
            let mut group = group.into_iter();
            if let Some(first) = group.next() {
                let _ = first.reply.send(Err(e));
            }
            for write in group {
                let _ = write.reply.send(Err(StoreError::Group(message.clone())));
            }
            return;
        }
        Err(Failure::Write(e)) => e,
    };
    if group.len() == 1 {
        if let Some(write) = group.into_iter().next() {
            let _ = write.reply.send(Err(failed));
        }
        return;
    }
    tracing::debug!(error = %failed, writes = group.len(), "a grouped state write failed; writing one at a time");
    for write in group {
        let result = apply(pool, std::slice::from_ref(&write))
            .await
            .map(|mut done| done.remove(0))
            .map_err(Failure::into_inner);
        let _ = write.reply.send(result);
    }
}

enum Failure {
    Begin(StoreError),
    Write(StoreError),
}

impl Failure {
    fn into_inner(self) -> StoreError {
        match self {
            Failure::Begin(e) | Failure::Write(e) => e,
        }
    }
}

/// Applies `group` in one transaction: in order, except that the polls
/// are recorded first and the `304`s and sent deliveries last, each kind
/// in a few statements whatever their number. Nothing else in a group
/// depends on them: each source is in a group once, a delivery is claimed,
/// hence committed, before it is sent, and the other writes touch the
/// deliveries of alerts recorded earlier or a source's error state.
async fn apply(pool: &SqlitePool, group: &[Write]) -> Result<Vec<Done>, Failure> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| Failure::Begin(e.into()))?;
    // The polls first, together; the other writes in order.
    let polls: Vec<&PollRecord> = group
        .iter()
        .filter_map(|w| match &w.op {
            Op::Poll(poll) => Some(poll),
            _ => None,
        })
        .collect();
    let mut outcomes = if polls.is_empty() {
        Vec::new()
    } else {
        record_polls_in(&mut tx, &polls)
            .await
            .map_err(Failure::Write)?
    }
    .into_iter();
    let mut done = Vec::with_capacity(group.len());
    let (mut unchanged, mut sent) = (Vec::new(), Vec::new());
    for write in group {
        let result = match &write.op {
            Op::Poll(_) => Ok(Done::Poll(outcomes.next().unwrap_or_default())),
            Op::NotModified(u) => {
                unchanged.push(u);
                Ok(Done::Written)
            }
            Op::Sent { id, at } => {
                sent.push((id.as_str(), *at));
                Ok(Done::Written)
            }
            Op::Failed {
                id,
                error,
                next_attempt,
            } => failed_in(&mut tx, id, error, *next_attempt)
                .await
                .map(|()| Done::Written),
            Op::Claim { ids, now, until } => {
                claim_in(&mut tx, ids, *now, *until).await.map(Done::Ids)
            }
            Op::Renew { ids, held, until } => {
                renew_in(&mut tx, ids, *held, *until).await.map(Done::Ids)
            }
            Op::Failure {
                source,
                kind,
                message,
                at,
            } => failure_in(&mut tx, source, kind, message, *at)
                .await
                .map(Done::Count),
            Op::NextPoll { source, at } => next_poll_in(&mut tx, source, *at)
                .await
                .map(|()| Done::Written),
        };
        done.push(result.map_err(Failure::Write)?);
    }
    if !unchanged.is_empty() {
        not_modified_in(&mut tx, &unchanged)
            .await
            .map_err(Failure::Write)?;
    }
    if !sent.is_empty() {
        sent_in(&mut tx, &sent).await.map_err(Failure::Write)?;
    }
    tx.commit().await.map_err(|e| Failure::Write(e.into()))?;
    Ok(done)
}
