#pragma once
#include <filesystem>
#include <string>

#include "io/results_file.hpp"
#include "train/train_config.hpp"
#include "train/trainer.hpp"

namespace sfb::train {

/// Writes the /train contract of a finished run (DESIGN.md, docs/results.md): per epoch
/// /train/epoch/{epoch, <loss terms>, accuracy, adv_accuracy, lr, seconds, images_per_s}; the
/// /train attributes loss, optimizer, schedule, sf_lambda, epochs, batch_size, steps_per_epoch,
/// checkpoint (`ckpt`), weights_sha256 (`sha`), resumes (JSON array of the run's resumptions,
/// each with the configuration it resumed from) and, when this process resumed (`resumed`),
/// resumed_from and resumed_from_config_sha256; and "train" (final terms and accuracy, resumes,
/// resumed_from) in the summary. Collective.
void write_train(io::ResultsFile& rf, const Trainer& t, const TrainConfig& c,
                 const std::filesystem::path& ckpt, const std::string& sha, bool resumed);

/// The training's timing record: the epochs' seconds (this run's, resumed epochs included), the
/// images they trained on (epochs × steps × global batch), device seconds, `traffic`.
io::StageTiming train_timing(Trainer& t, const TrainConfig& c, const comm::Traffic& traffic);

}  // namespace sfb::train
