//! End-to-end tests that time the host: each makes a real slowdown (busy loops, a CPU quota)
//! and checks what the daemon, or a fleet's Prometheus, makes of it, so other load on the
//! machine is a change of its own to them. Cargo runs one test binary at a time, so these run with none of the other
//! end-to-end tests beside them, and take turns among themselves.

mod fleet;
mod regression;

// The helpers of the other end-to-end tests, which use all of them; these tests only some.
#[allow(dead_code)]
#[path = "../e2e/cgroup.rs"]
mod cgroup;
#[allow(dead_code)]
#[path = "../e2e/util.rs"]
mod util;
