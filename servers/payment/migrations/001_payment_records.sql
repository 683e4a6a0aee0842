-- payment_records is the authoritative dedupe of provider callbacks: one row per
-- (provider, payment_id), kept for the retention period (>= 3 days) after it was created.
-- state is processing until the outcome is stored; locked_ms and lock_owner say who works on it
-- and since when (a stale lock is taken over); recovery_point says how far the work got.
-- response holds the answer's bytes in base64: aiomysql 0.3 cannot send bytes parameters
-- with PyMySQL >= 1.2, and text is as exact.
CREATE TABLE IF NOT EXISTS payment_records (
  provider VARCHAR(64) NOT NULL,
  payment_id VARCHAR(128) NOT NULL,
  record_id BIGINT NOT NULL,
  order_id BIGINT NOT NULL,
  amount_minor BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  provider_status VARCHAR(32) NOT NULL,
  payload_hash CHAR(64) NOT NULL,
  state VARCHAR(16) NOT NULL,
  recovery_point VARCHAR(16) NOT NULL,
  outcome VARCHAR(32) NOT NULL,
  outcome_reason VARCHAR(64) NOT NULL,
  lock_owner VARCHAR(64) NOT NULL,
  locked_ms BIGINT NOT NULL,
  response TEXT,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (provider, payment_id),
  UNIQUE (record_id)
);
CREATE INDEX IF NOT EXISTS payment_records_created ON payment_records (created_ms);
