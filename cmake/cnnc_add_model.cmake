# cnnc_add_model: defined in this file (to be filled)
