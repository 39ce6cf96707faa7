//! When a delivery reached its client's socket, from the kernel (`SO_TIMESTAMPNS`): it splits a
//! delivery's latency into the server's part (sent until the bytes were in the receiving
//! socket: the sender's write, the server's round, its flush to every reader before this one,
//! loopback) and the generator's (until its one thread got round to reading that socket and
//! opening what it held). One thread plays every client, so a late read there is the
//! generator's lag, not the server's; the report shows the two apart (`in its socket`,
//! `generator read`).
//!
//! For TCP, `recvmsg` hands the receive time of the newest segment the read took (`tcp_recvmsg`'s
//! `tcp_recv_timestamp`), in `CLOCK_REALTIME`; on loopback that is when the server's `write`
//! put it there (the receive path runs in the writer's own system call).

use std::io;
use std::os::fd::AsRawFd;
use std::time::{SystemTime, UNIX_EPOCH};

/// Ask the kernel to stamp what `sock` receives.
///
/// # Errors
/// The OS's.
pub(super) fn enable(sock: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd, and a pointer to an int of the length given, read by the kernel only
    // during the call.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Nanoseconds since the epoch, now (the kernel's stamps are in the same clock).
pub(super) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One `recvmsg` from `sock` into `buf` (`Interrupted` is retried): the bytes read, and when
/// the newest of them reached the socket (ns since the epoch) if the kernel said.
///
/// # Errors
/// The OS's (`WouldBlock` when nothing is there).
pub(super) fn recv(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    // Room for one cmsg of a timespec (CMSG_SPACE(16) is 32 on 64-bit Linux), 8-aligned.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid msghdr (null name, no iovecs, no control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    let n = loop {
        // SAFETY: `msg` points at `iov` (which covers `buf`, writable for its length) and at
        // `control` (writable for msg_controllen bytes); all outlive the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut stamp = None;
    // SAFETY: `msg` was filled by recvmsg: CMSG_FIRSTHDR/NXTHDR stay within msg_controllen of
    // `control`, and a header of SCM_TIMESTAMPNS carries a timespec (read unaligned).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                let ns = u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000
                    + u64::try_from(ts.tv_nsec).unwrap_or(0);
                stamp = (ns > 0).then_some(ns);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n, stamp))
}
