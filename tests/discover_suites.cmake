# Lists the GoogleTest suites of one test program and writes a CTest script with one test per
# suite: SUITE.* runs the program with --gtest_filter=SUITE.*. Run after each link of the
# program (mob_add_suite_tests in tests/CMakeLists.txt), as GoogleTest's own discovery is.
# Why per suite and not per case: a unit test's own work is a few milliseconds, and each
# process of a sanitized program costs 0.2-0.4 s to start and to check for leaks at its exit
# (README.md, the test command).
# Arguments (-D): EXECUTABLE, WORKING_DIRECTORY, OUTPUT, LABELS (a ;-list), TIMEOUT (seconds),
# PROGRAMS_FILE (a script setting suite_lists: every program's OUTPUT).
execute_process(COMMAND "${EXECUTABLE}" --gtest_list_tests
                WORKING_DIRECTORY "${WORKING_DIRECTORY}"
                OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE status
                TIMEOUT 30)
if(NOT status EQUAL 0)
  file(REMOVE "${OUTPUT}")
  message(FATAL_ERROR "could not list the tests of ${EXECUTABLE} (its --gtest_list_tests ended with "
                      "'${status}'):\n${listing}${errors}")
endif()

# A suite's line is its name and a dot, then maybe "  # TypeParam = ..."; its cases are
# indented under it. Typed and parameterized suites have a slash in their names.
string(REPLACE "\n" ";" lines "${listing}")
set(script "")
set(suites 0)
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z_][A-Za-z0-9_/]*)\\.( .*)?$")
    set(suite "${CMAKE_MATCH_1}")
    if(suite MATCHES "^DISABLED_")
      continue()
    endif()
    set(name "${suite}.*")
    string(APPEND script
      "add_test([==[${name}]==] [==[${EXECUTABLE}]==] [==[--gtest_filter=${suite}.*]==])\n"
      "set_tests_properties([==[${name}]==] PROPERTIES LABELS [==[${LABELS}]==] TIMEOUT ${TIMEOUT}"
      " WORKING_DIRECTORY [==[${WORKING_DIRECTORY}]==])\n")
    math(EXPR suites "${suites} + 1")
  endif()
endforeach()
if(suites EQUAL 0)
  file(REMOVE "${OUTPUT}")
  message(FATAL_ERROR "${EXECUTABLE} lists no test suite; its --gtest_list_tests said:\n${listing}")
endif()

# The tests are named after their suites alone, so a suite of the same name in two programs
# would make two CTest tests of one name, which a report or `ctest -R` cannot tell apart: the
# other programs' lists (PROGRAMS_FILE names them) are read, and a shared name stops the build.
set(suite_lists "")
if(EXISTS "${PROGRAMS_FILE}")
  include("${PROGRAMS_FILE}")
endif()
set(other_lists "")
foreach(list_file IN LISTS suite_lists)
  if(NOT list_file STREQUAL OUTPUT AND EXISTS "${list_file}")
    list(APPEND other_lists "${list_file}")
  endif()
endforeach()
string(REGEX MATCHALL "add_test\\(\\[==\\[[^]]*\\]==\\]" own_tests "${script}")
foreach(other IN LISTS other_lists)
  file(READ "${other}" other_script)
  foreach(test IN LISTS own_tests)
    string(FIND "${other_script}" "${test}" at)
    if(NOT at EQUAL -1)
      file(REMOVE "${OUTPUT}")
      string(REGEX REPLACE "^add_test\\(\\[==\\[(.*)\\]==\\]$" "\\1" name "${test}")
      message(FATAL_ERROR "the test suite ${name} of ${EXECUTABLE} has the name of a suite listed in "
                          "${other}: CTest could not tell their results apart. Rename one of the two suites.")
    endif()
  endforeach()
endforeach()
file(WRITE "${OUTPUT}" "${script}")
