# run_install_test.cmake — the body of CTest "install" (see CMakeLists.txt here). cmake -P script:
# every step stops the test with a message naming the command and its output.

function(run what)
  cmake_parse_arguments(R "" "OUTPUT;ERROR" "COMMAND" ${ARGN})
  execute_process(COMMAND ${R_COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE errout)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${R_COMMAND}")
    message(FATAL_ERROR "install test: ${what} failed (exit ${rc}):\n  ${cmd}\n${out}\n${errout}")
  endif()
  message(STATUS "ok: ${what}")
  if(R_OUTPUT)
    set(${R_OUTPUT} "${out}" PARENT_SCOPE)
  endif()
  if(R_ERROR)
    set(${R_ERROR} "${errout}" PARENT_SCOPE)
  endif()
endfunction()

function(expect_match text regex what)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "install test: ${what}: expected to match '${regex}' in:\n${text}")
  endif()
  message(STATUS "ok: ${what}")
endfunction()

function(expect_no_match text regex what)
  if(text MATCHES "${regex}")
    message(FATAL_ERROR "install test: ${what}: did not expect '${regex}' in:\n${text}")
  endif()
  message(STATUS "ok: ${what}")
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(example_build ${WORK_DIR}/example-build)
set(example ${MVAE_SOURCE_DIR}/examples/plugin_residual_mlp)
set(ds_example ${MVAE_SOURCE_DIR}/examples/plugin_dataset_waves)
set(ds_build ${WORK_DIR}/dataset-example-build)
set(mvae ${prefix}/${BINDIR}/mvae)
set(plugdir ${prefix}/${LIBDIR}/mvae/plugins)
# the guide shows the example's files in full: they must not drift apart
file(READ ${MVAE_SOURCE_DIR}/docs/writing-a-plugin.md guide)
foreach(f plugin_residual_mlp/residual_mlp.c plugin_residual_mlp/CMakeLists.txt plugin_dataset_waves/waves.c
          plugin_dataset_waves/CMakeLists.txt)
  file(READ ${MVAE_SOURCE_DIR}/examples/${f} text)
  string(STRIP "${text}" text)
  string(FIND "${guide}" "${text}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "install test: docs/writing-a-plugin.md does not show examples/${f} as it is: update the guide")
  endif()
endforeach()
message(STATUS "ok: docs/writing-a-plugin.md shows the example's files as they are")

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
# start from a clean environment: no plugin path, no other pkg-config directories
unset(ENV{MVAE_PLUGIN_PATH})
set(ENV{PKG_CONFIG_PATH} ${prefix}/${LIBDIR}/pkgconfig)

# (a) install the current build into a prefix other than the configured one
run("cmake --install" COMMAND ${CMAKE_COMMAND} --install ${MVAE_BUILD_DIR} --prefix ${prefix})
foreach(f ${BINDIR}/mvae ${LIBDIR}/libmvae.so ${LIBDIR}/cmake/mvae/mvaeConfig.cmake
          ${LIBDIR}/cmake/mvae/mvaeConfigVersion.cmake ${LIBDIR}/cmake/mvae/mvaePlugin.cmake
          ${LIBDIR}/pkgconfig/mvae.pc include/mvae/plugin.h include/mvae/interfaces.h
          include/mvae/nn.h ${LIBDIR}/mvae/plugins/mvae_encoder_mlp.so)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "install test: ${f} was not installed under ${prefix}")
  endif()
endforeach()
# the public headers must not need any dependency's headers (OpenBLAS, libyaml, zlib, libpng)
file(GLOB headers ${prefix}/include/mvae/*.h)
foreach(h ${headers})
  file(STRINGS ${h} incs REGEX "^#include <")
  foreach(i ${incs})
    if(NOT i MATCHES "^#include <(stddef|stdint|stdio|stdbool|stdlib|string|math)\\.h>")
      message(FATAL_ERROR "install test: ${h} includes a non-standard header: ${i}")
    endif()
  endforeach()
endforeach()
message(STATUS "ok: installed files and self-contained headers")

# (d1) the installed command, moved to another prefix, finds the installed plugins beside libmvae
run("mvae plugins (installed)" COMMAND ${mvae} plugins OUTPUT out)
expect_match("${out}" "encoder +mlp +[^ ]+ +${plugdir}/mvae_encoder_mlp\\.so" "installed plugins found in the prefix")
expect_no_match("${out}" "${MVAE_BUILD_DIR}/plugins" "build-tree plugins not used by the installed mvae")

# (b) the out-of-tree example plugin, configured with find_package(mvae) from the prefix
run("configure the example plugin" COMMAND ${CMAKE_COMMAND} -S ${example} -B ${example_build}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=${C_COMPILER}
    "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror" -DCMAKE_INSTALL_PREFIX=${prefix})
run("build the example plugin" COMMAND ${CMAKE_COMMAND} --build ${example_build})
if(NOT EXISTS ${example_build}/plugins/mvae_encoder_residual_mlp.so)
  message(FATAL_ERROR "install test: the example did not produce plugins/mvae_encoder_residual_mlp.so")
endif()

# (d2) MVAE_PLUGIN_PATH adds the example's build directory to the installed plugins
set(ENV{MVAE_PLUGIN_PATH} ${example_build}/plugins)
run("mvae plugins -v (MVAE_PLUGIN_PATH)" COMMAND ${mvae} plugins -v OUTPUT out)
expect_match("${out}" "encoder +residual_mlp +1\\.0\\.0 +${example_build}/plugins/mvae_encoder_residual_mlp\\.so"
             "the example plugin is listed from MVAE_PLUGIN_PATH")
expect_match("${out}" "width +int +default 256" "its options are listed")
expect_match("${out}" "fusion +poe" "the installed plugins are still listed")
run("mvae validate (example YAML)" COMMAND ${mvae} validate ${example}/residual_mlp.yaml OUTPUT out)
expect_match("${out}" "plugin: residual_mlp" "the example experiment validates")
expect_match("${out}" "activation: swish" "the plugin's defaults are filled in")
unset(ENV{MVAE_PLUGIN_PATH})

# a few training steps through the new expert, when the Fashion-MNIST package is installed
if(EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  set(ENV{MVAE_PLUGIN_PATH} ${example_build}/plugins)
  run("mvae train (2 batches through residual_mlp)" COMMAND ${mvae} train ${example}/residual_mlp.yaml
      --out ${WORK_DIR}/run --quiet --set train.epochs=1 --set train.max_batches=2 --set train.threads=1
      --set eval.log_likelihood.samples=2 --set eval.log_likelihood.max_test=100
      --set eval.pictures=false)
  if(NOT EXISTS ${WORK_DIR}/run/metrics.json)
    message(FATAL_ERROR "install test: the training run wrote no metrics.json")
  endif()
  unset(ENV{MVAE_PLUGIN_PATH})
else()
  message(STATUS "skipped: training through the example (dataset-fashion-mnist not installed)")
endif()

# (b2) the out-of-tree example DATASET plugin: built the same way, opened, trained briefly
run("configure the example dataset plugin" COMMAND ${CMAKE_COMMAND} -S ${ds_example} -B ${ds_build}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=${C_COMPILER}
    "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror" -DCMAKE_INSTALL_PREFIX=${prefix})
run("build the example dataset plugin" COMMAND ${CMAKE_COMMAND} --build ${ds_build})
set(ENV{MVAE_PLUGIN_PATH} ${ds_build}/plugins)
run("mvae plugins -v (the dataset example)" COMMAND ${mvae} plugins -v OUTPUT out)
expect_match("${out}" "dataset +waves +1\\.0\\.0 +${ds_build}/plugins/mvae_dataset_waves\\.so" "the example dataset is listed")
expect_match("${out}" "missing_fraction +float +default 0\\.0" "its options are listed")
run("mvae validate --with-data (waves.yaml)" COMMAND ${mvae} validate ${ds_example}/waves.yaml --with-data
    --set dataset.n=300 --set dataset.missing_fraction=0.2 OUTPUT out ERROR err)
expect_match("${err}" "waves: 300 samples of length 64, 4 classes \\(240 train, 60 test\\), 20% without a wave"
             "the dataset opens and logs through the core's logger")
# its own error: the experiment's file:line:col, the dataset's name, the plugin's message
execute_process(COMMAND ${mvae} validate ${ds_example}/waves.yaml --with-data --set dataset.length=8
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "install test: waves with length 8 and 4 classes was accepted")
endif()
expect_match("${err}" "waves\\.yaml:5:[0-9]+: dataset 'waves': length 8 is too short for 4 classes .*set length >= 10"
             "the dataset's error names the place, the plugin and the fix")
run("mvae train (1 epoch of waves)" COMMAND ${mvae} train ${ds_example}/waves.yaml --out ${WORK_DIR}/waves-run --quiet
    --set dataset.n=300 --set train.epochs=1 --set train.threads=1 --set eval.log_likelihood.samples=2
    --set eval.pictures=false)
file(READ ${WORK_DIR}/waves-run/metrics.json metrics)
expect_match("${metrics}" "\"wave->label\": [0-9.]+" "the run over the example dataset has an accuracy")
# natively missing data (20 % of the samples without a wave, the test split too): the evaluator
# averages each term over the samples that have its modalities, so the numbers stay finite
run("mvae train (waves with missing data)" COMMAND ${mvae} train ${ds_example}/waves.yaml --out ${WORK_DIR}/waves-missing
    --quiet --set dataset.n=300 --set dataset.missing_fraction=0.2 --set train.epochs=1 --set train.threads=1
    --set eval.log_likelihood.samples=2 --set eval.pictures=false)
file(READ ${WORK_DIR}/waves-missing/metrics.json metrics)
expect_match("${metrics}" "\"elbo\": -?[0-9]+\\.[0-9]+" "the test ELBO with missing data is a finite number")
expect_match("${metrics}" "\"wave\": -?[0-9]+\\.[0-9]+" "log p(wave) with missing data is a finite number")
expect_match("${metrics}" "\"wave->label\": [0-9.]+" "the accuracy with missing data is a number")
unset(ENV{MVAE_PLUGIN_PATH})

# installing the example into the same prefix puts it where the installed mvae looks
run("install the example plugin" COMMAND ${CMAKE_COMMAND} --install ${example_build})
run("mvae plugins (example installed)" COMMAND ${mvae} plugins OUTPUT out)
expect_match("${out}" "encoder +residual_mlp +1\\.0\\.0 +${plugdir}/mvae_encoder_residual_mlp\\.so"
             "the installed example plugin is found in the prefix")

# (c) a program built with pkg-config alone
run("pkg-config --cflags --libs mvae" COMMAND pkg-config --cflags --libs mvae OUTPUT pcflags)
run("pkg-config --variable=plugindir mvae" COMMAND pkg-config --variable=plugindir mvae OUTPUT pcplug)
string(STRIP "${pcflags}" pcflags)
string(STRIP "${pcplug}" pcplug)
get_filename_component(pcplug_real "${pcplug}" REALPATH)
get_filename_component(plugdir_real "${plugdir}" REALPATH)
if(NOT pcplug_real STREQUAL plugdir_real)
  message(FATAL_ERROR "install test: pkg-config plugindir is '${pcplug}', expected ${plugdir}")
endif()
separate_arguments(pcflags UNIX_COMMAND "${pcflags}")
run("compile with pkg-config flags" COMMAND ${C_COMPILER} -std=c11 -Wall -Wextra -Werror ${SAN_FLAGS}
    ${MVAE_SOURCE_DIR}/tests/install/check_pkgconfig.c ${pcflags} -o ${WORK_DIR}/check_pkgconfig)
set(ENV{LD_LIBRARY_PATH} ${prefix}/${LIBDIR})
run("run the pkg-config program" COMMAND ${WORK_DIR}/check_pkgconfig OUTPUT out)
expect_match("${out}" "encoder residual_mlp ${plugdir}/" "libmvae from the prefix finds its plugins")
message(STATUS "install test passed")
