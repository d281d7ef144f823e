//! Counting one attempt in several rate-limit buckets at once, all or nothing: the buckets are
//! taken in order, and when one is full the hits already counted are given back, so an attempt
//! refused by one limit counts against no other. A bucket that counts only failures is given
//! back when the attempt turns out right.

use time::OffsetDateTime;

use stratus_core::ports::{LimitError, RateDecision, RateLimit, RateLimiter};

/// An attempt counted in every bucket it names.
pub struct Reserved<'a> {
    limiter: &'a dyn RateLimiter,
    buckets: Vec<(String, RateLimit)>,
    at: OffsetDateTime,
}

impl<'a> Reserved<'a> {
    /// Counts the attempt in each of `buckets`, in order; `Limited` from the first that is full,
    /// with the earlier ones' hits taken back.
    pub async fn take(
        limiter: &'a dyn RateLimiter,
        buckets: Vec<(String, RateLimit)>,
        at: OffsetDateTime,
    ) -> Result<Self, LimitError> {
        for (counted, (key, limit)) in buckets.iter().enumerate() {
            if let RateDecision::Limited { retry_after } = limiter.hit(key, *limit, at).await? {
                let taken = Self { limiter, buckets: buckets[..counted].to_vec(), at };
                taken.give_back_all().await;
                return Err(LimitError::Limited { retry_after });
            }
        }
        Ok(Self { limiter, buckets, at })
    }

    /// Takes back the hit of the bucket at `index` (in the order given to [`Self::take`]).
    pub async fn give_back(&self, index: usize) {
        if let Some((key, limit)) = self.buckets.get(index) {
            self.release(key, *limit).await;
        }
    }

    /// Takes back every hit: the attempt counts for nothing.
    pub async fn give_back_all(&self) {
        for (key, limit) in &self.buckets {
            self.release(key, *limit).await;
        }
    }

    /// A hit that cannot be taken back stays counted: the attempt errs on the limited side.
    async fn release(&self, key: &str, limit: RateLimit) {
        if let Err(error) = self.limiter.release(key, limit, self.at).await {
            tracing::warn!(%error, "could not take back an attempt's count");
        }
    }
}
