# cnnc_add_model(<target> MODEL <file.json> [BATCH <n>] [TARGET <halide target>] [INFERENCE_ONLY])
#
# Compiles a cnnc model file into lib<name>.a + <name>.h at build time (like
# Halide's add_halide_library) and makes <target> a static library target that
# links them: `target_link_libraries(app PRIVATE <target>)` is all an
# application needs. The output folder is ${CMAKE_CURRENT_BINARY_DIR}/<target>.
function(cnnc_add_model TARGET)
  cmake_parse_arguments(ARG "INFERENCE_ONLY" "MODEL;BATCH;TARGET" "" ${ARGN})
  if(NOT ARG_MODEL)
    message(FATAL_ERROR "cnnc_add_model(${TARGET}): MODEL <file.json> is required")
  endif()
  get_filename_component(model "${ARG_MODEL}" ABSOLUTE)
  file(READ "${model}" model_text)
  string(JSON model_name ERROR_VARIABLE json_error GET "${model_text}" name)
  if(json_error)
    message(FATAL_ERROR "cnnc_add_model(${TARGET}): ${model} has no readable \"name\": ${json_error}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${model}")

  if(TARGET cnnc)
    set(cnnc_exe $<TARGET_FILE:cnnc>)
    set(cnnc_dep cnnc cnnc_runtime)
  elseif(TARGET cnnc::cnnc)
    set(cnnc_exe $<TARGET_FILE:cnnc::cnnc>)
    set(cnnc_dep cnnc::cnnc)
  else()
    message(FATAL_ERROR "cnnc_add_model: no cnnc executable (use find_package(cnnc))")
  endif()

  set(out "${CMAKE_CURRENT_BINARY_DIR}/${TARGET}")
  set(library "${out}/lib${model_name}.a")
  set(header "${out}/${model_name}.h")
  set(flags)
  if(ARG_BATCH)
    list(APPEND flags --batch ${ARG_BATCH})
  endif()
  if(ARG_TARGET)
    list(APPEND flags --target ${ARG_TARGET})
  endif()
  if(ARG_INFERENCE_ONLY)
    list(APPEND flags --inference-only)
  endif()
  file(MAKE_DIRECTORY "${out}")
  add_custom_command(
    OUTPUT "${library}" "${header}"
    COMMAND ${cnnc_exe} compile "${model}" -o "${out}" ${flags}
    DEPENDS "${model}" ${cnnc_dep}
    COMMENT "cnnc: compiling ${ARG_MODEL}"
    VERBATIM)
  add_custom_target(${TARGET}.update DEPENDS "${library}" "${header}")

  find_package(Threads REQUIRED)
  add_library(${TARGET} STATIC IMPORTED GLOBAL)
  set_target_properties(${TARGET} PROPERTIES
    IMPORTED_LOCATION "${library}"
    INTERFACE_INCLUDE_DIRECTORIES "${out}"
    # The archive holds C++ code: link applications (C ones too) with the C++ driver.
    IMPORTED_LINK_INTERFACE_LANGUAGES CXX
    INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS}")
  add_dependencies(${TARGET} ${TARGET}.update)
endfunction()
