-- Tries per key (e.g. online enrolment per ID-number blind index) in a
-- fixed window, counted by one upsert before anything is checked.
CREATE TABLE attempt_budgets (
    scope         TEXT NOT NULL,
    key           BLOB NOT NULL,
    window_start  INTEGER NOT NULL,
    used          INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX attempt_budgets_by_window ON attempt_budgets (window_start);
