# ImageNet readers (JPEG folder, packed HDF5), the eval transform and foreground masks.
find_package(JPEG REQUIRED)
find_package(PNG REQUIRED)
sfb_add_library(data_imagenet
  SOURCES jpeg.cpp imagenet_transform.cpp imagenet_folder.cpp imagenet_h5.cpp masks.cpp
  DEPS sfb::core sfb::comm sfb::io
  PRIVATE_DEPS JPEG::JPEG PNG::PNG)
