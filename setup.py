"""Installable package ``mmlcnetv2``: PP-LCNetV2 for OpenMMLab."""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def version() -> str:
    ns = {}
    with open(osp.join(HERE, 'mmlcnetv2', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


def add_mim_extension():
    """Ship ``configs/`` inside the package as ``mmlcnetv2/.mim/configs``.

    This is how the OpenMMLab packages make ``pkg::path`` config bases resolve
    after a non-editable install. For an editable install a symlink suffices.
    """
    mim = osp.join(HERE, 'mmlcnetv2', '.mim')
    os.makedirs(mim, exist_ok=True)
    # mmengine reads .mim/model-index.yml (and the metafile it imports)
    # before it falls back to .mim/configs/<path> for a `mmlcnetv2::` base.
    for src in (osp.join(HERE, 'configs'),
                osp.join(HERE, 'mmlcnetv2', 'model-index.yml'),
                osp.join(HERE, 'mmlcnetv2', 'metafile.yml')):
        dst = osp.join(mim, osp.basename(src))
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if not osp.exists(src):
            continue
        try:
            os.symlink(osp.relpath(src, mim), dst,
                       target_is_directory=osp.isdir(src))
        except OSError:
            if osp.isdir(src):
                shutil.copytree(src, dst)
            else:
                shutil.copyfile(src, dst)


def read_requirements(name: str):
    path = osp.join(HERE, 'requirements', name)
    with open(path) as f:
        lines = [ln.split('#')[0].strip() for ln in f]
    return [ln for ln in lines if ln]


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmlcnetv2',
        version=version(),
        description='PP-LCNetV2 backbone for OpenMMLab (mmpretrain, mmdet, '
        'mmsegmentation) with Paddle weight conversion and OpenVINO export',
        long_description=open(osp.join(HERE, 'README.md')).read()
        if osp.exists(osp.join(HERE, 'README.md')) else '',
        long_description_content_type='text/markdown',
        license='Apache-2.0',
        # benchmarks/ (the latency comparison, experiments) is research
        # that runs from a checkout; it is not installed.
        packages=find_packages(exclude=('tests', 'tests.*', 'configs',
                                        'tools', 'tools.*', 'benchmarks',
                                        'benchmarks.*')),
        include_package_data=True,
        package_data={'mmlcnetv2': ['.mim/configs/**/*.py',
                                    '.mim/configs/*/*.py',
                                    '.mim/configs/*/*/*.py',
                                    '.mim/model-index.yml',
                                    '.mim/metafile.yml',
                                    'model-index.yml', 'metafile.yml']},
        python_requires='>=3.9',
        # mmcv is built from source by tools/setup_env.sh (CPU ops, C++20),
        # so it is not declared here: pip would try to build it without ops.
        install_requires=['mmengine>=0.10.0', 'mmpretrain>=1.2.0',
                          'torch>=2.0', 'numpy'],
        extras_require={
            'det': ['mmdet>=3.3.0'],
            'seg': ['mmsegmentation>=1.2.2', 'ftfy', 'regex'],
            # init_cfg checkpoint='timm/...' (Hugging Face hub ids).
            'hub': ['huggingface_hub', 'safetensors'],
            'deploy': ['openvino>=2024.0', 'nncf', 'onnx', 'onnxscript'],
            'tests': read_requirements('tests.txt'),
        },
        # `mmlcnetv2 train|test|deploy|infer|...`: tools/*.py without a
        # checkout (docs/commands.md).
        entry_points={
            'console_scripts': ['mmlcnetv2 = mmlcnetv2.commands.main:main'],
        },
        zip_safe=False,
    )
