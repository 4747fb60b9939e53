# What `cmake --install` puts in place for people who build against stubborn: the library, its
# public headers, a CMake package (find_package(stubborn CONFIG) -> stubborn::core) and stubborn.pc.
