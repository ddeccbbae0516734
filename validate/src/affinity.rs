//! Pinning threads to CPUs (Linux `sched_setaffinity`), so a timed kernel does not migrate
//! between cores mid-measurement and lose its cached data. Elsewhere, or where the OS refuses,
//! threads float and the harness says so.

/// The CPUs this process may run on, in increasing order (empty where unknown).
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is a plain bit array for which all-zero is a valid (empty) value;
    // sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Restricts the calling thread to `cpus`; false if the OS refused (or `cpus` is empty).
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpus: &[usize]) -> bool {
    if cpus.is_empty() {
        return false;
    }
    // SAFETY: as above; CPU_SET only sets bits below CPU_SETSIZE, which the filter ensures, and
    // pid 0 names the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

#[cfg(not(target_os = "linux"))]
pub fn pin_current_thread(_cpus: &[usize]) -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_can_be_pinned_to_one_allowed_cpu_and_released() {
        let all = allowed_cpus();
        assert!(!all.is_empty(), "this process may run somewhere");
        let handle = std::thread::spawn(move || {
            assert!(pin_current_thread(&all[..1]));
            let now = allowed_cpus();
            assert!(pin_current_thread(&all));
            now
        });
        let pinned = handle.join().expect("the pinned thread finishes");
        assert_eq!(pinned.len(), 1);
    }
}
