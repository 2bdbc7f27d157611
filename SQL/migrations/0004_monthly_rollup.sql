-- Monthly summaries are rolled up from the daily ones by the worker once a month is over, instead
-- of being added to by every closing. Every officer of a unit closing the same service in the same
-- month used to update one report_monthly row and hold its lock until COMMIT, so closings across
-- officers were serialised on it (bench/claim: 18 to 22 of 32 sessions waiting on that row).
-- report_daily is keyed by officer, so closings by different officers no longer meet.
--
-- Reading: a month listed in report_monthly_rollups comes from report_monthly; any other month
-- (the current one, or one the worker has not reached) from report_daily, which is always complete.
-- Writing after a rollup (feedback on an old request, a closing dated into a rolled-up month by a
-- clock at a month's edge) updates both, so a rolled-up month stays complete. The rollup takes a
-- SHARE lock on report_daily, so it waits for open writers and they wait for it: a writer either
-- committed before the rollup read the daily rows, or sees the rollup's row and adds to the
-- monthly row as well.

CREATE TABLE report_monthly_rollups (
    month       date PRIMARY KEY,
    rolled_at   timestamptz NOT NULL,
    CONSTRAINT report_monthly_rollups_first_day CHECK (extract(day FROM month) = 1)
);
COMMENT ON TABLE report_monthly_rollups IS
    'Months whose report_monthly rows are complete (rolled up from report_daily, then kept current by later writes); other months are read from report_daily.';

-- Until now every closing kept report_monthly complete, so each month it holds is complete (the
-- current month included: closings keep adding to it until it ends; later months start daily-only).
INSERT INTO report_monthly_rollups (month, rolled_at) SELECT DISTINCT month, now() FROM report_monthly;

-- Element-wise sum of count arrays over rows (histograms, IKM sums).
CREATE AGGREGATE loket_sum_counts(integer[]) (SFUNC = loket_add_counts, STYPE = integer[], INITCOND = '{}');
COMMENT ON AGGREGATE loket_sum_counts(integer[]) IS 'Sums count arrays of any lengths element by element (loket_add_counts over rows).';

COMMENT ON TABLE report_monthly IS
    'report_daily summed per calendar month, unit and service type (all officers); complete for the months in report_monthly_rollups.';
