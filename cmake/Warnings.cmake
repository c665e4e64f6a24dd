# One place for the warning set (STYLE.md "Build and checks").
set(SHIELD_WARNINGS
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
    -Wwrite-strings -Werror=implicit-function-declaration -Werror=attributes)

function(shield_target_warnings target)
  target_compile_options(${target} PRIVATE ${SHIELD_WARNINGS})
  if(SHIELD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
