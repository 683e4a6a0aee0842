-- Coupons reach the order: its discount (total_minor = line totals - discount_minor) and the
-- coupon applied, plus each line's share of the discount. Plain ADD COLUMN, which MariaDB,
-- MySQL, TiDB and SQLite all accept (SQLite has no ADD COLUMN IF NOT EXISTS): this file runs
-- once per database by the migration runner's record of applied files. The defaults make
-- every order written before the change read as "no coupon".
ALTER TABLE orders ADD COLUMN discount_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN coupon_code VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE order_lines ADD COLUMN discount_minor BIGINT NOT NULL DEFAULT 0;
