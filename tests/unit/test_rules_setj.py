"""The classes set J's first score missed, each on lines that are not a corpus excerpt's: an `API listen on` that
an initialization step follows is Docker <= 1.9's early listen (not a completed start); markdown emphasis pasted
around a line is not part of it; ENOSPC from mount(2) is not a full disk."""

from __future__ import annotations

from remediator.detect import logdiag
from remediator.vocab import Diagnosis

LISTEN = 'time="2016-03-01T10:00:00.000000000Z" level=info msg="API listen on /var/run/docker.sock"'
DRIVER = 'time="2016-03-01T10:00:00.100000000Z" level=info msg="[graphdriver] using prior storage driver \\"overlay\\""'
LOADING = 'time="2016-03-01T10:00:00.200000000Z" level=info msg="Loading containers: start."'
DONE = 'time="2016-03-01T10:00:01.000000000Z" level=info msg="Daemon has completed initialization"'
MODERN = ['level=info msg="Starting up"', 'level=info msg="[graphdriver] using prior storage driver: overlay2"',
          'level=info msg="Loading containers: start."', 'level=info msg="Loading containers: done."',
          'level=info msg="Daemon has completed initialization"', 'level=info msg="API listen on /run/docker.sock"']


def verdict(*lines: str) -> str:
    return logdiag.diagnose_text("\n".join(lines)).verdict


def test_the_19_era_early_listen_is_not_a_completed_start() -> None:
    assert verdict(LISTEN, DRIVER) == Diagnosis.NO_FAULT
    assert verdict(LISTEN, DRIVER, LOADING) == Diagnosis.NO_FAULT
    assert verdict(LISTEN, DRIVER, LOADING, DONE) == Diagnosis.HEALTHY  # its own completion line still counts
    assert verdict(*MODERN) == Diagnosis.HEALTHY  # 1.10+: the listen is the last step
    assert verdict(DRIVER, LISTEN) == Diagnosis.HEALTHY  # nothing of the start follows the listen


def test_markdown_emphasis_around_a_pasted_line_is_not_part_of_it() -> None:
    assert verdict(" **Data Space Available: 0B**") == Diagnosis.DISK_FULL
    assert verdict(" Data Space Available: 0B") == Diagnosis.DISK_FULL
    assert verdict(" **Data Space Available: 12.5GB**") != Diagnosis.DISK_FULL


def test_enospc_from_a_mount_is_not_a_full_disk() -> None:
    mount = ('level=error msg="Handler for POST /v1.43/containers/create returned error: error creating overlay mount '
             'to /var/lib/docker/overlay2/0123456789abcdef/merged: no space left on device"')
    write = 'level=error msg="write /var/lib/docker/containers/0123456789abcdef/config.v2.json: no space left on device"'
    assert verdict(mount) == Diagnosis.CONTAINER_FAULT
    assert verdict(write) == Diagnosis.DISK_FULL
    assert verdict(mount, write) == Diagnosis.DISK_FULL  # a real write that hit ENOSPC still decides


def test_devicemappers_min_free_refusal_is_a_full_pool_and_its_other_errors_a_broken_driver() -> None:
    full = "devmapper: Thin Pool has 12 free metadata blocks which is less than minimum required 4096 free metadata blocks"
    broken = 'level=error msg="devmapper: Error activating devmapper device for \'docker-pool\'"'
    assert verdict(full) == Diagnosis.DISK_FULL
    assert verdict(broken) == Diagnosis.STORAGE_DRIVER
