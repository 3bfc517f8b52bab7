#!/usr/bin/python3
"""Runs a command with its stdout on a pseudo-terminal and prints what it
wrote, with the carriage returns and erase sequences shown as line breaks so
that FileCheck can see each redraw of a progress line."""
import os
import pty
import sys

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = bytearray()
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:  # EIO: the child closed the terminal
        break
    if not data:
        break
    out.extend(data)
_, status = os.waitpid(pid, 0)
text = out.decode(errors="replace").replace("\r\n", "\n").replace("\x1b[K", "").replace("\r", "\n")
sys.stdout.write(text)
sys.exit(os.waitstatus_to_exitcode(status))
