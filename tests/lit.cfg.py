# lit configuration for netc's tests.  CMake writes lit.site.cfg.py with the
# paths of this build; ctest passes it as --param netc_site=PATH.
import os
import platform
import shutil
import subprocess

import lit.formats

site = lit_config.params.get('netc_site')
if not site:
    lit_config.fatal('run the tests through ctest (it passes --param netc_site=...)')
lit_config.load_config(config, site)

config.name = 'netc'
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = ['.yaml', '.test']
config.excludes = ['Inputs']
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.build_root, 'tests')

# Generated code is built as users build it: C11, every warning an error.
cflags = '-std=c11 -O2 -Wall -Wextra -Werror ' + config.san_flags
config.substitutions.append(('%cc_bin', config.cc))  # before %cc, its prefix
config.substitutions.append(('%netc', config.netc))
config.substitutions.append(('%cc', config.cc + ' ' + cflags))
config.substitutions.append(('%rtinc', config.netrt_include))
config.substitutions.append(('%rtlib', config.netrt_lib))
config.substitutions.append(('%python', config.python))
config.substitutions.append(('%models', os.path.join(config.source_root, 'models')))
config.substitutions.append(('%tests', os.path.join(config.source_root, 'tests')))
config.substitutions.append(('%build_root', config.build_root))
config.substitutions.append(('%san_flags', config.san_flags))

config.environment['PATH'] = os.pathsep.join([config.llvm_bindir, config.environment.get('PATH', '')])
for var in ('ASAN_OPTIONS', 'UBSAN_OPTIONS', 'HOME', 'TMPDIR'):
    if var in os.environ:
        config.environment[var] = os.environ[var]
config.environment.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1')

# PyTorch's reference values are computed on Debian's reference BLAS (libblas3),
# as the committed fixtures were, also where OpenBLAS (installed for the
# benchmark's baseline) is the system's libblas.so.3: another BLAS orders its
# sums differently, which moves float32 results in the last bits.
import glob
for ref_blas in sorted(glob.glob('/usr/lib/*/blas/libblas.so.3')):
    config.environment['LD_LIBRARY_PATH'] = os.path.dirname(ref_blas)
    break

if shutil.which('pkg-config'):
    config.available_features.add('pkg-config')
if config.san_flags:
    config.available_features.add('sanitize')
if subprocess.call([config.python, '-c', 'import torch'],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
    config.available_features.add('torch')
if platform.machine() == 'x86_64':
    config.available_features.add('x86_64')
if shutil.which('clang'):
    config.available_features.add('clang')
# Graphviz renders --emit=dot (tests/dot); headless Chromium renders the
# trainer's --plot SVG (tests/plot), without its sandbox when run as root.
if shutil.which('dot'):
    config.available_features.add('graphviz')
chromium = shutil.which('chromium') or shutil.which('chromium-browser')
if chromium:
    config.available_features.add('chromium')
    config.substitutions.append(('%chromium', chromium + ' --headless --disable-gpu --hide-scrollbars'
                                 + (' --no-sandbox' if os.geteuid() == 0 else '')))
# %unprivileged runs a command as a user who is not root: as is when the
# tests already run so, through setpriv as nobody (65534) when they run as
# root; the feature 'unprivileged' says that one of the two is possible.
if os.geteuid() != 0:
    config.available_features.add('unprivileged')
    config.substitutions.append(('%unprivileged', ''))
elif shutil.which('setpriv'):
    config.available_features.add('unprivileged')
    config.substitutions.append(('%unprivileged', 'setpriv --reuid=65534 --regid=65534 --clear-groups'))
# MPI (tests/mpi): `netc --mpi` needs libnetrt_mpi.a, which CMake builds where
# it finds MPI, and the tests need mpirun.  %mpirun runs the ranks on this
# machine alone, quietly: shared memory only, no core binding, more ranks
# than cores allowed, as root too.
mpi_lib = os.path.join(os.path.dirname(config.netrt_lib), 'libnetrt_mpi.a')
if os.path.exists(mpi_lib) and shutil.which('mpirun') and shutil.which('mpicc'):
    config.available_features.add('mpi')
    config.substitutions.append(('%mpirun', 'mpirun --oversubscribe' +
                                 (' --allow-run-as-root' if os.geteuid() == 0 else '')))
    config.environment.update({
        'OMPI_MCA_btl': 'self,vader', 'OMPI_MCA_btl_vader_single_copy_mechanism': 'none',
        'OMPI_MCA_plm': 'isolated', 'OMPI_MCA_rmaps_base_oversubscribe': '1',
        'OMPI_MCA_hwloc_base_binding_policy': 'none', 'OMPI_MCA_btl_base_warn_component_unused': '0',
    })
