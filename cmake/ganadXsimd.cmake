# Debian 12's xsimd 8.1 package exports a target that links a library called "xtl", which it
# neither ships nor needs (xtl is only for xsimd's optional xtl::xcomplex support): every
# link then fails with "cannot find -lxtl". Drop that entry unless a real xtl target exists.
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_ganad_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_ganad_xsimd_libs)
    list(REMOVE_ITEM _ganad_xsimd_libs xtl)
    set_target_properties(xsimd PROPERTIES INTERFACE_LINK_LIBRARIES "${_ganad_xsimd_libs}")
  endif()
  unset(_ganad_xsimd_libs)
endif()
