# cmake -DMPIRUN=... -DPROGRAM=... -DMODE=throw|die -P expect_job_ends.cmake: runs PROGRAM on two
# ranks and passes when the job ends with a non-zero exit code within 60 s (a hang fails).
execute_process(COMMAND ${MPIRUN} -np 2 --oversubscribe --allow-run-as-root --mca btl_vader_single_copy_mechanism none
                        -x OMP_NUM_THREADS=1 ${PROGRAM} ${MODE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
message("exit: ${rc}\n${out}${err}")
if(rc STREQUAL "0" OR rc MATCHES "timeout|Process terminated due to timeout")
  message(FATAL_ERROR "the job did not end with an error within 60 s (exit: ${rc})")
endif()
if(MODE STREQUAL "throw" AND NOT err MATCHES "rank 1 of 2: fault_main: rank 1 fails at step 3")
  message(FATAL_ERROR "the failing rank's message is missing")
endif()
