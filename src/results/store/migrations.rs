//! The schema of the run history and its migrations, in order: `PRAGMA user_version` counts
//! those applied. A migration, once shipped, is never changed; a new one is appended.

/// Schema migrations, in order; `PRAGMA user_version` counts those applied.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE sweeps (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    sweep_id INTEGER REFERENCES sweeps (id) ON DELETE SET NULL,
    backend TEXT NOT NULL,
    sync TEXT NOT NULL,
    workers INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    reread INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    success INTEGER NOT NULL,
    failure_reason TEXT,
    failure_message TEXT,
    duration_seconds REAL,
    lines_per_second REAL,
    disorder INTEGER,
    duplicates INTEGER,
    missing INTEGER,
    torn_records INTEGER,
    pids INTEGER,
    threads_min INTEGER,
    threads_max INTEGER,
    cpu_records TEXT,
    cpus_used INTEGER,
    cpu_migrations INTEGER,
    voluntary_ctx_switches INTEGER,
    involuntary_ctx_switches INTEGER
);
CREATE INDEX runs_by_series ON runs (backend, sync, workers, id);
CREATE INDEX runs_by_time ON runs (finished_at);
CREATE INDEX runs_by_sweep ON runs (sweep_id);
"#,
    r#"
ALTER TABLE runs ADD COLUMN warmup INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cpu_seconds REAL;
ALTER TABLE runs ADD COLUMN total_periods INTEGER;
ALTER TABLE runs ADD COLUMN throttled_periods INTEGER;
ALTER TABLE runs ADD COLUMN throttled_seconds REAL;
ALTER TABLE runs ADD COLUMN steal_seconds REAL;
ALTER TABLE runs ADD COLUMN cpu_pressure_seconds REAL;
ALTER TABLE runs ADD COLUMN throttled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN disturbed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sweeps ADD COLUMN calibration_seconds REAL;
ALTER TABLE sweeps ADD COLUMN cpu_seconds REAL;
"#,
    // Per-series lookups by sweep: the latest sweep of a combination, its runs, its history.
    r#"
CREATE INDEX runs_by_series_sweep ON runs (backend, sync, workers, lines, reread, sweep_id);
"#,
    // Runs made for /probe.
    r#"
ALTER TABLE runs ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;
"#,
    // The round of its sweep a run ran in.
    r#"
ALTER TABLE runs ADD COLUMN round INTEGER;
"#,
    // What the node was during each sweep.
    r#"
ALTER TABLE sweeps ADD COLUMN kernel TEXT;
ALTER TABLE sweeps ADD COLUMN boot_id TEXT;
ALTER TABLE sweeps ADD COLUMN cpu_model TEXT;
ALTER TABLE sweeps ADD COLUMN microcode TEXT;
ALTER TABLE sweeps ADD COLUMN online_cpus TEXT;
ALTER TABLE sweeps ADD COLUMN cpuset TEXT;
ALTER TABLE sweeps ADD COLUMN cpu_quota_cores REAL;
ALTER TABLE sweeps ADD COLUMN governor TEXT;
ALTER TABLE sweeps ADD COLUMN cpu_frequency_hertz REAL;
ALTER TABLE sweeps ADD COLUMN memory_pressure REAL;
"#,
    // The CPUs a run was allowed to use.
    r#"
ALTER TABLE runs ADD COLUMN cpus_allowed INTEGER;
"#,
    // The time a run's workers waited for a CPU.
    r#"
ALTER TABLE runs ADD COLUMN wait_seconds REAL;
"#,
];
