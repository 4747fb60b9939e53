# Fails when docs/stubborn.schema.json is not what `stubborn --print-schema` prints.
# cmake -DSTUBBORN=path/to/stubborn -DSCHEMA=docs/stubborn.schema.json -P check_schema.cmake
execute_process(COMMAND ${STUBBORN} --print-schema OUTPUT_VARIABLE generated
                RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${STUBBORN} --print-schema failed (${result})")
endif()
file(READ ${SCHEMA} committed)
if(NOT generated STREQUAL committed)
  message(FATAL_ERROR "docs/stubborn.schema.json is not what the key tables generate. "
                      "Regenerate it from the top of the source tree:\n"
                      "  build/stubborn --print-schema > docs/stubborn.schema.json")
endif()
