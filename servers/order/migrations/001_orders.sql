-- Orders as projected by the writer from the order streams. Plain MySQL-compatible DDL (no
-- triggers, no procedures) so MariaDB, TiDB and Vitess carry it; SQLite accepts it too.
CREATE TABLE IF NOT EXISTS orders (
  order_id BIGINT NOT NULL PRIMARY KEY,
  request_id VARCHAR(128) NOT NULL,
  user_id VARCHAR(128) NOT NULL,
  status VARCHAR(20) NOT NULL,
  version BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  total_minor BIGINT NOT NULL,
  payment_id VARCHAR(128) NOT NULL,
  cancel_reason VARCHAR(256) NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  payment_deadline_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS orders_request ON orders (request_id);
CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id, order_id);
CREATE TABLE IF NOT EXISTS order_lines (
  order_id BIGINT NOT NULL,
  line_no INT NOT NULL,
  sku VARCHAR(128) NOT NULL,
  title VARCHAR(256) NOT NULL,
  quantity INT NOT NULL,
  unit_minor BIGINT NOT NULL,
  PRIMARY KEY (order_id, line_no)
);
CREATE TABLE IF NOT EXISTS order_events (
  order_id BIGINT NOT NULL,
  version BIGINT NOT NULL,
  status VARCHAR(20) NOT NULL,
  event VARCHAR(20) NOT NULL,
  payment_id VARCHAR(128) NOT NULL,
  at_ms BIGINT NOT NULL,
  PRIMARY KEY (order_id, version)
);
