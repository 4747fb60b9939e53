# Run by cpack (CPACK_PRE_BUILD_SCRIPTS) on the staged install, before the packages are made:
# static libraries lose their debug sections, as Debian's dh_strip does (CPACK_STRIP_FILES
# strips the binary only). Without it the -dev package is ten times larger.
file(GLOB_RECURSE archives "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*.a")
foreach(archive IN LISTS archives)
  execute_process(COMMAND "${CPACK_STUBBORN_STRIP}" --strip-debug --enable-deterministic-archives
                          "${archive}" RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "cannot strip ${archive}")
  endif()
endforeach()
