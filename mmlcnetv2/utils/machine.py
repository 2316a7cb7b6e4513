# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""What the numbers were measured on: CPU, cores, load, library versions."""
import os
import platform
import re
from typing import Dict, List, Sequence


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform``)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


#: ``/proc/cpuinfo`` flags that decide OpenVINO's CPU kernels: f32 vector
#: width, int8 dot products (VNNI, AMX-INT8) and bf16 (AVX512-BF16, AMX).
ISA_FLAGS = ('avx2', 'fma', 'avx512f', 'avx_vnni', 'avx512_vnni',
             'avx512_bf16', 'amx_bf16', 'amx_int8')


def isa_flags() -> List[str]:
    """Which of :data:`ISA_FLAGS` the CPU reports (empty if unknown)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    have = set(line.split(':', 1)[1].split())
                    return [flag for flag in ISA_FLAGS if flag in have]
    except OSError:
        pass
    return []


def isa_class(isa: Sequence[str]) -> str:
    """The CPU class as far as OpenVINO's kernels care, e.g. ``avx2``,
    ``avx512-vnni-bf16`` (AMD Zen 4) or ``avx512-vnni-bf16-amx`` (Intel
    Sapphire Rapids and later): vector width, then int8 dot products, bf16
    and AMX tiles."""
    have = set(isa)
    parts = ['avx512' if 'avx512f' in have else
             'avx2' if 'avx2' in have else 'sse']
    if have & {'avx_vnni', 'avx512_vnni'}:
        parts.append('vnni')
    if 'avx512_bf16' in have:
        parts.append('bf16')
    if have & {'amx_bf16', 'amx_int8'}:
        parts.append('amx')
    return '-'.join(parts)


def machine_slug(machine: Dict) -> str:
    """A file name for one machine's results: CPU model and ISA class, e.g.
    ``amd-epyc_avx2``. Two CPU classes never share it (the same model name
    is sold with different ISAs, and VMs hide the rest), so one machine's
    run cannot overwrite another's."""
    cpu = re.sub(r'\(r\)|\(tm\)|\bcpu\b|@.*$', '', machine['cpu'].lower())
    cpu = re.sub(r'[^a-z0-9]+', '-', cpu).strip('-') or 'unknown-cpu'
    return f"{cpu}_{isa_class(machine.get('isa') or [])}"


def physical_cores() -> int:
    """Distinct (physical id, core id) pairs in ``/proc/cpuinfo``."""
    try:
        cores, phys = set(), None
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('physical id'):
                    phys = line.split(':', 1)[1].strip()
                elif line.startswith('core id'):
                    cores.add((phys, line.split(':', 1)[1].strip()))
        if cores:
            return len(cores)
    except OSError:
        pass
    return os.cpu_count() or 1


def cpu_capabilities() -> List[str]:
    """OpenVINO's CPU plugin ``OPTIMIZATION_CAPABILITIES`` (``BF16`` where
    it can compute in bf16, ``INT8``, ...)."""
    import openvino as ov
    return [str(c) for c in ov.Core().get_property(
        'CPU', 'OPTIMIZATION_CAPABILITIES')]


def machine_info() -> Dict:
    """CPU, cores/threads, load average, OpenVINO/torch versions and the
    CPU plugin's optimization capabilities.

    Example:
        >>> info = machine_info()
        >>> sorted(info)[:3]
        ['cpu', 'cpu_capabilities', 'load_average']
    """
    import openvino as ov
    import torch
    caps = cpu_capabilities()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return dict(
        cpu=cpu_model(),
        physical_cores=physical_cores(),
        logical_threads=os.cpu_count(),
        cpu_capabilities=caps,
        isa=isa_flags(),
        bf16_supported='BF16' in caps,
        openvino=ov.get_version(),
        torch=torch.__version__,
        python=platform.python_version(),
        load_average=load,
    )
