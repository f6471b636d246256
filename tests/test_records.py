"""What a run record says about the machine: a CPU is named by its model, not only its architecture."""

from __future__ import annotations

import os
import platform

from recbole_hybrid.utils.records import cpu_name, device_name


def test_a_cpu_device_is_named_by_its_model_name(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654\nflags\t\t: fpu\n")
    assert cpu_name(info) == "AMD EPYC 9654"
    info.write_text("processor\t: 0\nflags\t\t: fpu\n")  # no model name: the platform's name
    assert cpu_name(info) == (platform.processor() or platform.machine())
    assert cpu_name(tmp_path / "missing") == (platform.processor() or platform.machine())
    assert device_name("cpu") == f"CPU {cpu_name()} ({os.cpu_count()} cores)"
