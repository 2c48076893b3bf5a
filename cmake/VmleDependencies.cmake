# Libraries of the services (the trainer needs only torch, see the top level).
# prometheus-cpp comes from the prefix scripts/install-deps.sh unpacks it into.
set(VMLE_DEPS_PREFIX "$ENV{HOME}/.cache/vmle/prefix" CACHE PATH
    "Prefix holding prometheus-cpp (made by scripts/install-deps.sh)")
list(APPEND CMAKE_PREFIX_PATH "${VMLE_DEPS_PREFIX}/usr")

find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC REQUIRED)
find_package(RocksDB REQUIRED)
find_package(prometheus-cpp REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CURL REQUIRED)
find_package(ZLIB REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(OpenSSL REQUIRED)
