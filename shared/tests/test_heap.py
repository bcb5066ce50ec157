"""release_free_heap: pages freed in the middle of the heap leave the process."""

from __future__ import annotations

from pathlib import Path

from shared.heap import release_free_heap


def resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def test_freed_heap_pages_are_returned_to_the_system() -> None:
    # 60 MiB of small blocks (malloc's heap, not mmap), then seven in eight freed: the
    # survivors pin the heap so its top cannot simply shrink, and only a trim returns the
    # whole pages inside each freed run.
    blocks = [bytearray(4000) for _ in range(15_000)]
    keep = blocks[::8]
    del blocks
    before = resident_kib()

    assert release_free_heap() is True

    after = resident_kib()
    assert before - after > 20 * 1024, (before, after)
    assert len(keep) == 1_875 and all(len(block) == 4000 for block in keep)  # survivors intact
