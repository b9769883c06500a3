# cnnc_datasets: named data sets for `cnnc train --dataset` (included from
# compiler/driver/CMakeLists.txt). Links zlib to unpack fashion-mnist; kept out
# of cnnc_runtime, which must not depend on zlib.
add_library(cnnc_datasets STATIC ${CMAKE_CURRENT_LIST_DIR}/datasets.cpp)
target_link_libraries(cnnc_datasets PUBLIC cnnc_runtime PRIVATE ZLIB::ZLIB)
