/* gan_internal.h — the `gan` model type (gan.c): a VAE-GAN modality (Larsen et al. 2016) in the
 * multimodal model, exposed for the model type table and the tests (not installed).
 * docs/model_types.md describes the design and what it does to the bound.
 *
 *   generator  G(z) = mean of the modality's decoder (sigmoid of its logits for images)
 *   D(x)       = head(leaky_relu(f(x))), f = a discriminator network (an encoder plugin whose
 *                mean output, `features` wide, is the feature layer), head a linear layer to 1
 *   score(x, z) (what the objective uses in place of log p(x | z), per row of z):
 *       - feature_weight     * 1/2 |f(x) - f(G(z))|^2          (VAE-GAN's Dis_l reconstruction)
 *       - adversarial_weight * L_G(D(G(z)))                     (ns: softplus(-d); hinge: -d)
 *       + pixel_weight       * log p_lik(x | decoder(z))        (the VAE's own likelihood; 0 = off)
 *   discriminator (its own parameters and Adam, n_critic updates before each model update):
 *       ns:    mean softplus(-D(x)) + mean softplus(D(G(z)))   (Goodfellow et al. 2014)
 *       hinge: mean relu(1 - D(x))  + mean relu(1 + D(G(z)))   (Lim & Ye 2017; Miyato et al. 2018)
 *   with z ~ q(z | every present modality with an encoder), G(z) a constant (no gradient).
 *
 * The discriminator's parameters live in their own store (dps), never updated by the model's
 * optimiser; its parameters, Adam moments and step are mirrored into one buffer of the model's
 * store ("<modality>.gan.state") after each update, so checkpoints hold them and resume restores
 * them (the buffer is the truth: every use first copies it back when it holds a state).
 */
#ifndef MVAE_GAN_INTERNAL_H
#define MVAE_GAN_INTERNAL_H
#include "mvae/model.h"
#include "mvae/nn.h"
#include "mvae/optim.h"

enum { MVAE_GAN_LOSS_NS = 0, MVAE_GAN_LOSS_HINGE = 1 };

typedef struct mvae_gan {
    int k;                       /* the modality */
    const mvae_plugin_desc *disc_desc;
    void *disc;                  /* the discriminator's feature network (an encoder plugin) */
    mvae_linear_layer head;      /* features -> 1 logit */
    mvae_params *dps;            /* the discriminator's parameters (own store, own optimiser) */
    mvae_optim opt;
    int loss, n_critic;
    int64_t features;
    float feature_weight, adversarial_weight, pixel_weight;
    mvae_tensor *state;          /* the mirror buffer in the model's store: data | m | v | step hi,
                                  * step lo, valid ([3 n_floats + 3]) */
    double last_d_loss;          /* the discriminator's loss at its last update (logs, tests) */
} mvae_gan;

extern const mvae_option mvae_gan_schema[];

/* Make the GAN parts of modality k (the decoder is the vae row's, made by the caller). */
int mvae_gan_create(mvae_model *m, int k, mvae_cfg_node *mn, mvae_gan **out, mvae_error *err);
void mvae_gan_free(mvae_gan *g); /* NULL is a no-op */
/* The objective's score of x [B, ...] under z [R, latent] (see above), [R]. */
mvae_tensor *mvae_gan_score(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_tensor *x);
/* D(x) logits [B] for x [B, ...]. */
mvae_tensor *mvae_gan_disc_logits(mvae_gan *g, mvae_ctx *ctx, mvae_tensor *x, mvae_tensor **features);
/* The discriminator's loss, mean over the rows whose weight is nonzero (w NULL: all), for
 * logits of real and generated data: [1]. */
mvae_tensor *mvae_gan_disc_loss(mvae_ctx *ctx, int loss, mvae_tensor *d_real, mvae_tensor *w_real,
                                mvae_tensor *d_fake, mvae_tensor *w_fake);
/* The generator's adversarial loss per row, [R]: ns softplus(-d), hinge -d. */
mvae_tensor *mvae_gan_gen_loss(mvae_ctx *ctx, int loss, mvae_tensor *d_fake);
/* n_critic discriminator updates on batch b (the train_step hook). */
int mvae_gan_train_step(const mvae_model *m, mvae_ctx *ctx, int k, const mvae_batch *b, mvae_rng *rng);
/* Copy the mirror into the discriminator's store when it holds a state (else the store into it). */
void mvae_gan_sync(mvae_gan *g);
#endif
