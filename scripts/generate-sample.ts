/**
 * Generates `data/geo-sample.json`: 1,200 invented GEO series summaries for the archive
 * demo, so it runs offline. Deterministic (a seeded PRNG): running it again rewrites the
 * file byte for byte.
 *
 *     npx tsx scripts/generate-sample.ts
 *
 * Records are composed from ~40 topics (organism, tissue, assay, conditions, genes), so
 * titles and summaries cluster the way real series do and search has something to rank.
 * About 6% are broken on purpose, one problem each (see `breakages`), for validation.
 */
import * as Schema from "effect/Schema"
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { UpstreamRecord } from "../src/archive/source/UpstreamRecord.js"

const output = fileURLToPath(new URL("../data/geo-sample.json", import.meta.url))
const total = 1200
const seed = 0x51_1C_E0_01

// --- Seeded PRNG (mulberry32) -------------------------------------------------------------

let state = seed >>> 0
const random = (): number => {
  state = (state + 0x6D2B79F5) >>> 0
  let t = state
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const int = (min: number, max: number): number => min + Math.floor(random() * (max - min + 1))
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
const weighted = <A>(items: ReadonlyArray<readonly [A, number]>): A => {
  let r = random() * items.reduce((sum, [, w]) => sum + w, 0)
  for (const [item, w] of items) {
    r -= w
    if (r < 0) return item
  }
  return items[items.length - 1]![0]
}
const pickTwo = <A>(items: ReadonlyArray<A>): readonly [A, A] => {
  const first = int(0, items.length - 1)
  const second = (first + int(1, items.length - 1)) % items.length
  return [items[first]!, items[second]!]
}
/** Log-uniform integer: small counts common, large ones rare, as in GEO. */
const logInt = (min: number, max: number): number =>
  Math.round(Math.exp(Math.log(min) + random() * Math.log(max / min)))

// --- Vocabulary ---------------------------------------------------------------------------

type Family =
  | "expression"
  | "array"
  | "singlecell"
  | "binding"
  | "accessibility"
  | "methylation"
  | "smallrna"
  | "screen"
  | "structure"
  | "translation"

interface Assay {
  readonly title: string
  readonly method: string
  readonly type: string
  readonly platform: "seq" | "array" | "methylation"
  readonly family: Family
  readonly since: number
  readonly samples: readonly [number, number]
}

const assays = {
  rnaseq: {
    title: "RNA-seq",
    method: "bulk RNA sequencing",
    type: "Expression profiling by high throughput sequencing",
    platform: "seq",
    family: "expression",
    since: 2009,
    samples: [4, 48]
  },
  scrnaseq: {
    title: "Single-cell RNA-seq",
    method: "single-cell RNA sequencing (10x Genomics Chromium)",
    type: "Expression profiling by high throughput sequencing",
    platform: "seq",
    family: "singlecell",
    since: 2015,
    samples: [2, 24]
  },
  snrnaseq: {
    title: "Single-nucleus RNA-seq",
    method: "single-nucleus RNA sequencing",
    type: "Expression profiling by high throughput sequencing",
    platform: "seq",
    family: "singlecell",
    since: 2018,
    samples: [4, 32]
  },
  array: {
    title: "Microarray analysis",
    method: "whole-transcriptome expression microarrays",
    type: "Expression profiling by array",
    platform: "array",
    family: "array",
    since: 2005,
    samples: [6, 160]
  },
  chipseq: {
    title: "ChIP-seq",
    method: "chromatin immunoprecipitation sequencing (ChIP-seq) for {T}",
    type: "Genome binding/occupancy profiling by high throughput sequencing",
    platform: "seq",
    family: "binding",
    since: 2008,
    samples: [4, 36]
  },
  cutrun: {
    title: "CUT&RUN",
    method: "CUT&RUN profiling of {T}",
    type: "Genome binding/occupancy profiling by high throughput sequencing",
    platform: "seq",
    family: "binding",
    since: 2017,
    samples: [4, 24]
  },
  atacseq: {
    title: "ATAC-seq",
    method: "transposase-accessible chromatin sequencing (ATAC-seq)",
    type: "Genome binding/occupancy profiling by high throughput sequencing",
    platform: "seq",
    family: "accessibility",
    since: 2014,
    samples: [4, 36]
  },
  methylarray: {
    title: "DNA methylation profiling",
    method: "Illumina Infinium methylation arrays",
    type: "Methylation profiling by genome tiling array",
    platform: "methylation",
    family: "methylation",
    since: 2011,
    samples: [24, 400]
  },
  wgbs: {
    title: "Whole-genome bisulfite sequencing",
    method: "whole-genome bisulfite sequencing",
    type: "Methylation profiling by high throughput sequencing",
    platform: "seq",
    family: "methylation",
    since: 2012,
    samples: [4, 24]
  },
  smallrna: {
    title: "Small RNA-seq",
    method: "small RNA sequencing",
    type: "Non-coding RNA profiling by high throughput sequencing",
    platform: "seq",
    family: "smallrna",
    since: 2010,
    samples: [6, 80]
  },
  crispr: {
    title: "CRISPR knockout screen",
    method: "a genome-wide CRISPR-Cas9 knockout screen with sequencing of guide RNAs",
    type: "Other",
    platform: "seq",
    family: "screen",
    since: 2015,
    samples: [2, 16]
  },
  hic: {
    title: "Hi-C",
    method: "in situ Hi-C chromosome conformation capture",
    type: "Other",
    platform: "seq",
    family: "structure",
    since: 2013,
    samples: [2, 12]
  },
  riboseq: {
    title: "Ribosome profiling",
    method: "ribosome profiling (Ribo-seq) alongside matched RNA-seq",
    type: "Other; Expression profiling by high throughput sequencing",
    platform: "seq",
    family: "translation",
    since: 2011,
    samples: [4, 24]
  }
} as const satisfies Record<string, Assay>

type AssayKey = keyof typeof assays

/** Plausible GPL identifiers per organism and technology (not an authoritative catalogue). */
const platforms: Record<string, Partial<Record<Assay["platform"], ReadonlyArray<string>>>> = {
  "Homo sapiens": {
    seq: ["GPL24676", "GPL20301", "GPL16791", "GPL18573", "GPL11154"],
    array: ["GPL570", "GPL6244", "GPL10558"],
    methylation: ["GPL13534", "GPL21145"]
  },
  "Mus musculus": {
    seq: ["GPL24247", "GPL21103", "GPL17021", "GPL19057", "GPL13112"],
    array: ["GPL1261", "GPL6246", "GPL6887"]
  },
  "Rattus norvegicus": { seq: ["GPL18694", "GPL20084", "GPL14844"], array: ["GPL1355", "GPL6247"] },
  "Danio rerio": { seq: ["GPL18413", "GPL20828", "GPL14875"], array: ["GPL1319"] },
  "Drosophila melanogaster": { seq: ["GPL17275", "GPL19132", "GPL13304"], array: ["GPL1322"] },
  "Caenorhabditis elegans": { seq: ["GPL18730", "GPL22765", "GPL13657"], array: ["GPL200"] },
  "Saccharomyces cerevisiae": { seq: ["GPL17342", "GPL19756", "GPL13821"], array: ["GPL2529"] },
  "Arabidopsis thaliana": { seq: ["GPL17639", "GPL19580", "GPL13222"], array: ["GPL198"] },
  "Oryza sativa": { seq: ["GPL18525", "GPL22208"], array: ["GPL2025"] },
  "Zea mays": { seq: ["GPL17628", "GPL20156"], array: ["GPL4032"] },
  "Macaca mulatta": { seq: ["GPL27943", "GPL19129"], array: ["GPL3535"] },
  "Sus scrofa": { seq: ["GPL22475", "GPL18123"], array: ["GPL3533"] },
  "Gallus gallus": { seq: ["GPL19005", "GPL16133"], array: ["GPL3213"] },
  "Bos taurus": { seq: ["GPL23055", "GPL15749"], array: ["GPL2112"] },
  "Xenopus tropicalis": { seq: ["GPL15626", "GPL21201"] },
  "Plasmodium falciparum": { seq: ["GPL18940", "GPL21309"], array: ["GPL7019"] }
}

interface Topic {
  readonly organism: string
  /** Subjects for titles and summaries; the first is the usual one. */
  readonly subjects: ReadonlyArray<string>
  readonly assays: ReadonlyArray<AssayKey>
  /** Targets for ChIP-seq / CUT&RUN. */
  readonly targets?: ReadonlyArray<string>
  readonly conditions: ReadonlyArray<string>
  readonly genes: ReadonlyArray<string>
  readonly cells?: ReadonlyArray<string>
  readonly background: ReadonlyArray<string>
  readonly theme: string
  readonly since?: number
  readonly weight: number
}

const topics: ReadonlyArray<Topic> = [
  {
    organism: "Mus musculus",
    subjects: ["mouse hippocampus", "the adult mouse hippocampus", "mouse dentate gyrus"],
    assays: ["scrnaseq", "scrnaseq", "snrnaseq", "rnaseq"],
    conditions: [
      "after kainic acid-induced seizures",
      "during aging",
      "in the 5xFAD model of Alzheimer's disease",
      "after environmental enrichment",
      "following traumatic brain injury"
    ],
    genes: ["Gfap", "C1qa", "Trem2", "Apoe", "Prox1", "Neurod1", "Bdnf", "Aif1"],
    cells: ["microglia", "reactive astrocytes", "dentate granule cells", "oligodendrocyte precursor cells"],
    background: [
      "The hippocampus is central to learning and memory and is highly vulnerable to injury and neurodegeneration.",
      "Hippocampal circuits remodel throughout life, and glial responses shape how they recover from insults."
    ],
    theme: "hippocampal plasticity and neuroinflammation",
    weight: 3
  },
  {
    organism: "Homo sapiens",
    subjects: ["human liver cancer", "human hepatocellular carcinoma", "hepatocellular carcinoma cell lines"],
    assays: ["chipseq", "chipseq", "cutrun", "rnaseq"],
    targets: ["H3K27ac", "H3K27ac", "H3K27ac", "H3K4me1", "HNF4A", "FOXA2", "BRD4"],
    conditions: [
      "and adjacent non-tumour liver",
      "with hepatitis B virus infection",
      "after sorafenib treatment",
      "across tumour stages",
      "with CTNNB1 mutations"
    ],
    genes: ["HNF4A", "FOXA2", "MYC", "AFP", "GPC3", "TERT", "CTNNB1", "GLUL"],
    background: [
      "Hepatocellular carcinoma is the most common primary liver cancer, and its enhancer landscape is reprogrammed during tumour progression.",
      "Super-enhancers drive oncogene expression in liver cancer, but how they are established is unclear."
    ],
    theme: "enhancer reprogramming in liver cancer",
    weight: 3
  },
  {
    organism: "Homo sapiens",
    subjects: ["ER-positive breast cancer cells", "MCF-7 breast cancer cells", "human breast tumours"],
    assays: ["rnaseq", "rnaseq", "array", "chipseq"],
    targets: ["ESR1", "FOXA1", "GATA3", "H3K27ac"],
    conditions: [
      "with acquired tamoxifen resistance",
      "after estradiol stimulation",
      "treated with CDK4/6 inhibitors",
      "under long-term estrogen deprivation"
    ],
    genes: ["ESR1", "GATA3", "FOXA1", "ERBB2", "CCND1", "PGR", "TFF1", "GREB1"],
    background: [
      "Most breast cancers express estrogen receptor alpha, and endocrine therapy resistance remains a major clinical problem.",
      "Estrogen receptor signalling drives the growth of luminal breast cancers and is the target of endocrine therapy."
    ],
    theme: "endocrine resistance in breast cancer",
    weight: 3
  },
  {
    organism: "Homo sapiens",
    subjects: ["human CD4+ T cells", "human CD8+ T cells", "tumour-infiltrating T cells"],
    assays: ["atacseq", "atacseq", "rnaseq", "scrnaseq"],
    conditions: [
      "during chronic stimulation",
      "after PD-1 blockade",
      "from patients with melanoma",
      "after CD3/CD28 activation"
    ],
    genes: ["TOX", "PDCD1", "TCF7", "IL2", "IFNG", "HAVCR2", "GZMB", "BATF"],
    cells: ["exhausted T cells", "progenitor-exhausted T cells", "effector memory T cells", "regulatory T cells"],
    background: [
      "T cell exhaustion limits antitumour immunity and is accompanied by stable epigenetic changes.",
      "Chronic antigen exposure drives T cells into a dysfunctional state that checkpoint blockade only partly reverses."
    ],
    theme: "T cell exhaustion and immunotherapy",
    weight: 3
  },
  {
    organism: "Danio rerio",
    subjects: ["zebrafish heart", "regenerating zebrafish ventricle", "zebrafish cardiomyocytes"],
    assays: ["rnaseq", "scrnaseq", "atacseq"],
    conditions: ["after cryoinjury", "after ventricular resection", "at 7 days post amputation", "during regeneration"],
    genes: ["gata4", "nrg1", "tcf21", "mpeg1.1", "myl7", "col1a1a", "aldh1a2"],
    cells: ["border-zone cardiomyocytes", "epicardial cells", "macrophages", "endocardial cells"],
    background: [
      "Unlike mammals, zebrafish fully regenerate their heart after injury by proliferation of existing cardiomyocytes.",
      "The adult zebrafish heart is a model for understanding how cardiac regeneration could be unlocked in humans."
    ],
    theme: "heart regeneration",
    weight: 2
  },
  {
    organism: "Drosophila melanogaster",
    subjects: ["Drosophila wing imaginal discs", "Drosophila larval wing discs", "Drosophila eye discs"],
    assays: ["rnaseq", "chipseq", "scrnaseq"],
    targets: ["Yorkie", "Scalloped", "Polycomb", "H3K27me3"],
    conditions: ["with loss of Hippo signalling", "overexpressing Yorkie", "during tissue growth", "after irradiation"],
    genes: ["yki", "wts", "hpo", "dpp", "wg", "ex", "diap1", "ban"],
    cells: ["wing pouch cells", "hinge cells", "regenerating blastema cells"],
    background: [
      "The Hippo pathway controls organ size by restraining the growth-promoting co-activator Yorkie.",
      "Imaginal discs grow to a precise size, making them a classic system for studying growth control."
    ],
    theme: "organ size control by Hippo signalling",
    weight: 2
  },
  {
    organism: "Caenorhabditis elegans",
    subjects: ["C. elegans adults", "aging C. elegans", "C. elegans intestine"],
    assays: ["rnaseq", "rnaseq", "chipseq", "array"],
    targets: ["DAF-16", "SKN-1", "PHA-4"],
    conditions: [
      "with reduced daf-2 signalling",
      "under dietary restriction",
      "at day 10 of adulthood",
      "after heat stress"
    ],
    genes: ["daf-16", "daf-2", "skn-1", "hsp-16.2", "sod-3", "pha-4", "vit-2"],
    background: [
      "Reduced insulin/IGF-1 signalling doubles the lifespan of C. elegans through the FOXO factor DAF-16.",
      "C. elegans is a powerful model for the genetics of aging and longevity."
    ],
    theme: "longevity pathways",
    weight: 2
  },
  {
    organism: "Saccharomyces cerevisiae",
    subjects: ["budding yeast", "Saccharomyces cerevisiae cells", "yeast"],
    assays: ["rnaseq", "chipseq", "array", "riboseq"],
    targets: ["Hsf1", "Msn2", "RNA polymerase II"],
    conditions: [
      "during heat shock",
      "under oxidative stress",
      "after glucose starvation",
      "in response to amino acid starvation"
    ],
    genes: ["HSF1", "MSN2", "MSN4", "HSP104", "HSP82", "GCN4", "SSA4", "CTT1"],
    background: [
      "Yeast cells mount a rapid transcriptional response to environmental stress, coordinated by Hsf1 and Msn2/4.",
      "Budding yeast remains a model for how eukaryotic cells sense and respond to stress."
    ],
    theme: "the environmental stress response",
    weight: 2
  },
  {
    organism: "Arabidopsis thaliana",
    subjects: ["Arabidopsis roots", "Arabidopsis seedlings", "Arabidopsis guard cells"],
    assays: ["rnaseq", "rnaseq", "array", "chipseq"],
    targets: ["ABI5", "H3K4me3", "DREB2A"],
    conditions: [
      "under drought stress",
      "after abscisic acid treatment",
      "under salt stress",
      "during recovery from dehydration"
    ],
    genes: ["ABI5", "RD29A", "DREB2A", "PYL4", "SnRK2.6", "NCED3", "RAB18"],
    background: [
      "Plants respond to water deficit through the hormone abscisic acid, which reprograms gene expression.",
      "Drought is a leading cause of crop loss, and Arabidopsis is the reference system for its molecular responses."
    ],
    theme: "drought tolerance in plants",
    weight: 2
  },
  {
    organism: "Homo sapiens",
    subjects: ["human peripheral blood", "whole blood from patients", "circulating leukocytes"],
    assays: ["array", "array", "rnaseq"],
    conditions: [
      "in sepsis",
      "in septic shock survivors and non-survivors",
      "from intensive care patients",
      "over the first week of sepsis"
    ],
    genes: ["IL1B", "S100A8", "S100A12", "HLA-DRA", "CD177", "MMP8", "ARG1"],
    background: [
      "Sepsis is a dysregulated host response to infection and a leading cause of death in intensive care.",
      "Blood transcriptomics may stratify patients with sepsis into endotypes with different outcomes."
    ],
    theme: "sepsis endotypes",
    weight: 2
  },
  {
    organism: "Homo sapiens",
    subjects: ["human colorectal cancer", "colorectal adenomas and carcinomas", "colon tumours"],
    assays: ["methylarray", "methylarray", "wgbs", "rnaseq"],
    conditions: [
      "and matched normal mucosa",
      "with microsatellite instability",
      "from a screening cohort",
      "across the adenoma-carcinoma sequence"
    ],
    genes: ["MLH1", "CDX2", "SEPT9", "APC", "SFRP2", "VIM", "CDKN2A"],
    background: [
      "Aberrant DNA methylation is an early event in colorectal tumorigenesis and a source of biomarkers.",
      "The CpG island methylator phenotype defines a subgroup of colorectal cancers with distinct clinical features."
    ],
    theme: "epigenetic biomarkers of colorectal cancer",
    weight: 2
  },
  {
    organism: "Homo sapiens",
    subjects: ["human lung", "lungs of patients with pulmonary fibrosis", "human distal lung"],
    assays: ["scrnaseq", "scrnaseq", "snrnaseq", "rnaseq"],
    conditions: [
      "in idiopathic pulmonary fibrosis",
      "from explanted transplant lungs",
      "compared with healthy donors",
      "in systemic sclerosis"
    ],
    genes: ["SPP1", "COL1A1", "KRT5", "SFTPC", "ACTA2", "CTHRC1", "KRT17", "AGER"],
    cells: ["aberrant basaloid cells", "myofibroblasts", "alveolar type 2 cells", "profibrotic macrophages"],
    background: [
      "Idiopathic pulmonary fibrosis is a progressive scarring disease of the lung with limited treatment options.",
      "Fibrotic lung disease involves crosstalk between injured epithelium, fibroblasts and immune cells."
    ],
    theme: "lung fibrosis",
    weight: 3
  },
  {
    organism: "Homo sapiens; Severe acute respiratory syndrome coronavirus 2",
    subjects: ["human PBMCs", "peripheral blood mononuclear cells", "nasopharyngeal swabs"],
    assays: ["scrnaseq", "rnaseq", "rnaseq"],
    conditions: [
      "from patients with COVID-19",
      "across COVID-19 severity",
      "after SARS-CoV-2 infection",
      "during convalescence from COVID-19"
    ],
    genes: ["ISG15", "IFI27", "CD14", "S100A12", "IFITM3", "MX1", "IL6"],
    cells: ["classical monocytes", "plasmablasts", "neutrophils", "cytotoxic NK cells"],
    background: [
      "Severe COVID-19 is associated with a dysregulated immune response to SARS-CoV-2.",
      "The host response to SARS-CoV-2 differs sharply between mild and severe COVID-19."
    ],
    theme: "the immune response to COVID-19",
    since: 2020,
    weight: 2
  },
  {
    organism: "Rattus norvegicus",
    subjects: ["rat kidney", "kidneys of spontaneously hypertensive rats", "rat renal cortex"],
    assays: ["rnaseq", "array"],
    conditions: [
      "with salt-sensitive hypertension",
      "after angiotensin II infusion",
      "on a high-salt diet",
      "treated with losartan"
    ],
    genes: ["Ren", "Ace", "Agtr1a", "Havcr1", "Lcn2", "Slc12a1", "Nphs1"],
    background: [
      "The kidney sets long-term blood pressure, and renal injury both causes and results from hypertension.",
      "Rat models of hypertension reproduce key features of human renal damage."
    ],
    theme: "hypertensive kidney injury",
    weight: 1.5
  },
  {
    organism: "Rattus norvegicus",
    subjects: ["rat liver", "livers of rats fed a high-fat diet", "primary rat hepatocytes"],
    assays: ["rnaseq", "array"],
    conditions: [
      "with non-alcoholic fatty liver disease",
      "after a methionine-choline-deficient diet",
      "after bariatric surgery"
    ],
    genes: ["Srebf1", "Fasn", "Cd36", "Pparg", "Col1a1", "Cyp2e1", "Fgf21"],
    background: [
      "Non-alcoholic fatty liver disease is the most common chronic liver disease and can progress to steatohepatitis.",
      "Diet-induced rat models capture hepatic steatosis and its progression to fibrosis."
    ],
    theme: "fatty liver disease",
    weight: 1
  },
  {
    organism: "Mus musculus",
    subjects: ["mouse hematopoietic stem cells", "mouse bone marrow", "murine long-term HSCs"],
    assays: ["atacseq", "rnaseq", "scrnaseq", "wgbs"],
    conditions: ["during aging", "after transplantation", "under inflammatory stress", "with Dnmt3a loss"],
    genes: ["Hlf", "Mecom", "Procr", "Gata2", "Dnmt3a", "Tet2", "Selp", "Mpl"],
    cells: ["long-term HSCs", "megakaryocyte-biased progenitors", "lymphoid-primed progenitors"],
    background: [
      "Hematopoietic stem cells sustain blood production for life but lose regenerative capacity with age.",
      "Clonal hematopoiesis shows how mutations in epigenetic regulators change stem cell fitness."
    ],
    theme: "hematopoietic stem cell aging",
    weight: 2
  },
  {
    organism: "Mus musculus",
    subjects: ["mouse intestinal organoids", "mouse small intestine", "intestinal crypts"],
    assays: ["rnaseq", "scrnaseq", "chipseq"],
    targets: ["TCF4", "beta-catenin", "H3K27ac"],
    conditions: ["after Wnt withdrawal", "after irradiation injury", "with Apc deletion", "during regeneration"],
    genes: ["Lgr5", "Olfm4", "Ascl2", "Axin2", "Clu", "Ly6a", "Defa5"],
    cells: ["Lgr5+ stem cells", "revival stem cells", "Paneth cells", "enteroendocrine cells"],
    background: [
      "Lgr5+ stem cells at the crypt base renew the intestinal epithelium every few days under Wnt control.",
      "The intestine regenerates after injury through plastic stem cell states."
    ],
    theme: "intestinal stem cell plasticity",
    weight: 2
  },
  {
    organism: "Homo sapiens",
    subjects: ["human iPSC-derived cardiomyocytes", "hiPSC cardiomyocytes", "engineered human heart tissue"],
    assays: ["rnaseq", "rnaseq", "atacseq"],
    conditions: [
      "exposed to doxorubicin",
      "with a TTN truncating variant",
      "after maturation in culture",
      "treated with trastuzumab"
    ],
    genes: ["MYH6", "MYH7", "TNNT2", "NPPA", "NPPB", "TOP2B", "RYR2"],
    background: [
      "Cardiotoxicity limits the use of anthracyclines, and human iPSC-derived cardiomyocytes allow it to be modelled in vitro.",
      "Human iPSC-derived cardiomyocytes make it possible to study patient-specific heart disease in a dish."
    ],
    theme: "drug-induced cardiotoxicity",
    weight: 1.5
  },
  {
    organism: "Homo sapiens",
    subjects: ["human glioblastoma", "glioblastoma tumours", "patient-derived glioma stem cells"],
    assays: ["scrnaseq", "scrnaseq", "rnaseq", "methylarray"],
    conditions: [
      "at diagnosis and recurrence",
      "after temozolomide treatment",
      "with IDH wild-type status",
      "at the invasive margin"
    ],
    genes: ["EGFR", "PDGFRA", "SOX2", "OLIG2", "CD44", "CHI3L1", "MGMT"],
    cells: ["mesenchymal-like tumour cells", "OPC-like tumour cells", "tumour-associated macrophages"],
    background: [
      "Glioblastoma is the most aggressive primary brain tumour, and its cellular states are highly plastic.",
      "Intratumoural heterogeneity underlies therapy resistance in glioblastoma."
    ],
    theme: "glioblastoma heterogeneity",
    weight: 2
  },
  {
    organism: "Mus musculus",
    subjects: ["mouse embryonic stem cells", "mESCs", "mouse epiblast-like cells"],
    assays: ["cutrun", "chipseq", "chipseq", "rnaseq"],
    targets: ["H3K27me3", "H3K4me3", "EZH2", "SUZ12", "H2AK119ub1"],
    conditions: [
      "lacking PRC2",
      "during exit from pluripotency",
      "in 2i and serum conditions",
      "after Ezh2 inhibition"
    ],
    genes: ["Ezh2", "Suz12", "Nanog", "Pou5f1", "Hoxa9", "Jarid2", "Zic2"],
    background: [
      "Polycomb repressive complexes keep developmental genes silent but poised in pluripotent cells.",
      "Bivalent promoters carry both active and repressive histone marks in embryonic stem cells."
    ],
    theme: "Polycomb silencing in pluripotency",
    weight: 2
  },
  {
    organism: "Homo sapiens",
    subjects: ["human K562 cells", "human HCT116 cells", "human lymphoblastoid cells"],
    assays: ["hic", "hic", "chipseq"],
    targets: ["CTCF", "RAD21", "SMC3"],
    conditions: ["after acute cohesin depletion", "with CTCF degradation", "through the cell cycle", "after WAPL loss"],
    genes: ["CTCF", "RAD21", "MYC", "HBG1", "SOX9", "WAPL"],
    background: [
      "Chromatin loops formed by cohesin and CTCF organise the genome into topologically associating domains.",
      "Three-dimensional genome folding brings enhancers into contact with their target promoters."
    ],
    theme: "genome folding by loop extrusion",
    since: 2013,
    weight: 1.5
  },
  {
    organism: "Mus musculus",
    subjects: ["mouse adipose tissue", "mouse white adipose tissue", "mouse brown fat"],
    assays: ["rnaseq", "array", "snrnaseq"],
    conditions: [
      "after high-fat diet feeding",
      "after cold exposure",
      "in leptin-deficient ob/ob mice",
      "during weight loss"
    ],
    genes: ["Lep", "Ucp1", "Adipoq", "Pparg", "Cidea", "Ppargc1a", "Retn"],
    cells: ["thermogenic adipocytes", "adipocyte progenitors", "lipid-associated macrophages"],
    background: [
      "Adipose tissue remodels extensively in obesity, with inflammation and loss of metabolic flexibility.",
      "Brown and beige fat burn energy as heat and are studied as targets against obesity."
    ],
    theme: "adipose tissue in obesity",
    weight: 2
  },
  {
    organism: "Homo sapiens",
    subjects: ["human plasma exosomes", "serum extracellular vesicles", "pancreatic cancer cell lines"],
    assays: ["smallrna", "smallrna", "array"],
    conditions: [
      "from patients with pancreatic cancer",
      "and healthy controls",
      "before and after resection",
      "with chronic pancreatitis"
    ],
    genes: ["miR-21", "miR-155", "miR-196a", "miR-10b", "miR-210", "miR-1246"],
    background: [
      "Pancreatic ductal adenocarcinoma is usually diagnosed late, and circulating microRNAs are candidate early biomarkers.",
      "Extracellular vesicles carry microRNAs that reflect the state of the tumour that released them."
    ],
    theme: "liquid biopsy for pancreatic cancer",
    weight: 1.5
  },
  {
    organism: "Mus musculus",
    subjects: ["mouse retina", "rd10 mouse retina", "mouse photoreceptors"],
    assays: ["scrnaseq", "rnaseq", "atacseq"],
    conditions: ["during retinal degeneration", "after gene therapy", "at postnatal day 21", "after light damage"],
    genes: ["Rho", "Pde6b", "Nrl", "Crx", "Opn1mw", "Rlbp1", "Gfap"],
    cells: ["rod photoreceptors", "Muller glia", "cone photoreceptors", "retinal microglia"],
    background: [
      "Inherited retinal degenerations cause progressive loss of photoreceptors and blindness.",
      "The rd10 mouse carries a Pde6b mutation and models retinitis pigmentosa."
    ],
    theme: "retinal degeneration",
    weight: 1.5
  },
  {
    organism: "Danio rerio",
    subjects: ["zebrafish neural crest", "zebrafish embryos", "zebrafish cranial neural crest cells"],
    assays: ["scrnaseq", "rnaseq", "atacseq"],
    conditions: [
      "during migration",
      "at 24 hours post fertilisation",
      "in sox10 mutants",
      "during craniofacial development"
    ],
    genes: ["sox10", "foxd3", "tfap2a", "crestin", "mitfa", "dlx2a"],
    cells: ["migratory neural crest cells", "pigment progenitors", "chondrocyte precursors"],
    background: [
      "The neural crest is a multipotent embryonic population that gives rise to pigment cells, neurons and cartilage.",
      "Zebrafish embryos are transparent, which makes neural crest migration easy to follow."
    ],
    theme: "neural crest development",
    weight: 1.5
  },
  {
    organism: "Homo sapiens",
    subjects: ["human skin", "psoriatic skin lesions", "human epidermal keratinocytes"],
    assays: ["rnaseq", "array", "scrnaseq"],
    conditions: [
      "from patients with psoriasis",
      "before and after anti-IL-17 therapy",
      "in atopic dermatitis",
      "and non-lesional skin"
    ],
    genes: ["IL17A", "IL23A", "DEFB4A", "KRT16", "S100A7", "SERPINB4", "IL36G"],
    cells: ["inflammatory keratinocytes", "Th17 cells", "dermal dendritic cells"],
    background: [
      "Psoriasis is a chronic inflammatory skin disease driven by the IL-23/IL-17 axis.",
      "Biologic therapies targeting IL-17 clear psoriatic lesions, but disease often returns."
    ],
    theme: "inflammatory skin disease",
    weight: 2
  },
  {
    organism: "Mus musculus",
    subjects: ["mouse bone marrow-derived macrophages", "mouse macrophages", "peritoneal macrophages"],
    assays: ["chipseq", "rnaseq", "atacseq"],
    targets: ["NF-kB p65", "PU.1", "H3K27ac", "IRF3"],
    conditions: [
      "stimulated with LPS",
      "after interferon-gamma priming",
      "during endotoxin tolerance",
      "infected with Salmonella"
    ],
    genes: ["Tnf", "Il6", "Cxcl10", "Il1b", "Nos2", "Rela", "Spi1"],
    background: [
      "Macrophages activate hundreds of inflammatory genes within hours of sensing bacterial products.",
      "Signal-dependent transcription factors such as NF-kB act on an enhancer landscape set by PU.1."
    ],
    theme: "innate immune gene regulation",
    weight: 2
  },
  {
    organism: "Drosophila melanogaster",
    subjects: ["Drosophila heads", "Drosophila clock neurons", "fly brains"],
    assays: ["rnaseq", "array", "chipseq"],
    targets: ["CLOCK", "Pol II"],
    conditions: ["across the circadian cycle", "in constant darkness", "in per mutants", "under temperature cycles"],
    genes: ["per", "tim", "Clk", "cry", "Pdf", "vri", "cwo"],
    background: [
      "Circadian clocks drive daily rhythms of gene expression through a transcriptional feedback loop.",
      "In Drosophila, about 150 clock neurons coordinate daily rhythms of behaviour."
    ],
    theme: "circadian rhythms",
    weight: 1.5
  },
  {
    organism: "Homo sapiens",
    subjects: ["human kidney biopsies", "human kidney", "glomeruli from human kidneys"],
    assays: ["array", "snrnaseq", "rnaseq"],
    conditions: [
      "from patients with diabetic nephropathy",
      "in chronic kidney disease",
      "after acute kidney injury",
      "with IgA nephropathy"
    ],
    genes: ["HAVCR1", "LCN2", "UMOD", "NPHS1", "NPHS2", "VCAM1", "SPP1"],
    cells: ["injured proximal tubule cells", "podocytes", "mesangial cells"],
    background: [
      "Diabetic kidney disease is the leading cause of end-stage renal failure worldwide.",
      "Kidney biopsies show how tubular and glomerular cells respond to chronic injury."
    ],
    theme: "chronic kidney disease",
    weight: 2
  },
  {
    organism: "Macaca mulatta",
    subjects: ["rhesus macaque prefrontal cortex", "macaque brain", "developing macaque cortex"],
    assays: ["rnaseq", "snrnaseq", "array"],
    conditions: ["across postnatal development", "after prenatal stress", "with aging", "after SIV infection"],
    genes: ["SATB2", "FOXP2", "NRGN", "GAD1", "SST", "PVALB"],
    cells: ["upper-layer excitatory neurons", "interneurons", "astrocytes"],
    background: [
      "Non-human primates share a protracted cortical development with humans.",
      "The primate prefrontal cortex supports higher cognition and matures late."
    ],
    theme: "primate brain development",
    weight: 1
  },
  {
    organism: "Sus scrofa",
    subjects: ["piglet intestine", "porcine jejunum", "pig muscle"],
    assays: ["rnaseq", "array"],
    conditions: [
      "after weaning",
      "infected with porcine epidemic diarrhea virus",
      "in two breeds",
      "under heat stress"
    ],
    genes: ["MUC2", "TJP1", "OCLN", "MYOD1", "IGF2", "IFNB1"],
    background: [
      "Weaning is a stressful transition for piglets that disrupts gut barrier function.",
      "Pigs are an important livestock species and a model for human gut physiology."
    ],
    theme: "livestock health and growth",
    weight: 1
  },
  {
    organism: "Gallus gallus",
    subjects: ["chicken embryos", "chicken limb buds", "chick embryonic heart"],
    assays: ["rnaseq", "array", "chipseq"],
    targets: ["HOXD13", "H3K27ac"],
    conditions: [
      "during limb outgrowth",
      "after retinoic acid exposure",
      "at Hamburger-Hamilton stage 20",
      "after Sonic hedgehog bead implantation"
    ],
    genes: ["SHH", "FGF8", "HOXD13", "TBX5", "GREM1", "MEIS1"],
    background: [
      "The chick limb bud is a classic model for studying patterning by morphogen gradients.",
      "Chicken embryos allow direct manipulation of developing tissues in ovo."
    ],
    theme: "vertebrate limb patterning",
    weight: 1
  },
  {
    organism: "Bos taurus",
    subjects: ["bovine mammary gland", "dairy cow milk somatic cells", "bovine endometrium"],
    assays: ["rnaseq", "array"],
    conditions: [
      "during lactation",
      "with subclinical mastitis",
      "infected with Staphylococcus aureus",
      "during the periparturient period"
    ],
    genes: ["CSN2", "LALBA", "LTF", "TLR2", "CXCL8", "SAA3"],
    background: [
      "Mastitis is the most costly disease of dairy cattle and alters mammary gene expression.",
      "The bovine mammary gland undergoes dramatic transcriptional changes through the lactation cycle."
    ],
    theme: "dairy cattle health",
    weight: 1
  },
  {
    organism: "Oryza sativa",
    subjects: ["rice seedlings", "rice roots", "rice panicles"],
    assays: ["rnaseq", "array"],
    conditions: ["under salt stress", "under submergence", "infected with Magnaporthe oryzae", "during grain filling"],
    genes: ["SUB1A", "OsNAC6", "SKC1", "OsDREB1A", "Pi9", "GW2"],
    background: [
      "Rice feeds half of the world's population, and its yield is limited by abiotic and biotic stress.",
      "Rice varieties differ widely in how they tolerate flooding, salinity and pathogens."
    ],
    theme: "stress tolerance in rice",
    weight: 1
  },
  {
    organism: "Zea mays",
    subjects: ["maize kernels", "maize leaves", "maize shoot apical meristem"],
    assays: ["rnaseq", "array", "chipseq"],
    targets: ["H3K4me3", "KNOTTED1"],
    conditions: [
      "during endosperm development",
      "across inbred lines",
      "under nitrogen limitation",
      "in hybrid and parental lines"
    ],
    genes: ["O2", "KN1", "Sh2", "Bt2", "ZmNAC", "TB1"],
    background: [
      "Maize is a major crop and a model for heterosis and domestication.",
      "Endosperm development determines grain yield and starch content in maize."
    ],
    theme: "maize development and yield",
    weight: 1
  },
  {
    organism: "Homo sapiens; Mycobacterium tuberculosis",
    subjects: ["human macrophages", "human monocyte-derived macrophages", "human alveolar macrophages"],
    assays: ["rnaseq", "array", "scrnaseq"],
    conditions: [
      "infected with Mycobacterium tuberculosis",
      "during latent tuberculosis",
      "after BCG vaccination",
      "treated with isoniazid"
    ],
    genes: ["IL1B", "TNF", "IRG1", "CXCL10", "IFNB1", "SLC11A1"],
    cells: ["infected macrophages", "bystander macrophages"],
    background: [
      "Mycobacterium tuberculosis survives inside macrophages by manipulating their antimicrobial responses.",
      "Tuberculosis kills more people than any other single bacterial pathogen."
    ],
    theme: "host-pathogen interactions in tuberculosis",
    weight: 1.5
  },
  {
    organism: "Plasmodium falciparum",
    subjects: ["Plasmodium falciparum blood stages", "P. falciparum gametocytes", "malaria parasites"],
    assays: ["rnaseq", "array", "chipseq"],
    targets: ["HP1", "AP2-G", "H3K9me3"],
    conditions: [
      "across the intraerythrocytic cycle",
      "during sexual commitment",
      "with artemisinin resistance",
      "from clinical isolates"
    ],
    genes: ["var2csa", "ap2-g", "kelch13", "hp1", "pfcrt", "msp1"],
    background: [
      "Plasmodium falciparum causes the most severe form of malaria and switches var gene expression to evade immunity.",
      "Only a small fraction of malaria parasites commit to the sexual stages that transmit the disease."
    ],
    theme: "malaria parasite biology",
    weight: 1
  },
  {
    organism: "Mus musculus",
    subjects: ["mouse primordial germ cells", "mouse oocytes", "mouse spermatogonia"],
    assays: ["wgbs", "wgbs", "rnaseq", "scrnaseq"],
    conditions: ["during epigenetic reprogramming", "lacking Dnmt3a", "in Tet1 knockouts", "across oocyte growth"],
    genes: ["Dnmt3a", "Tet1", "Prdm14", "Dazl", "Stella", "Uhrf1", "Dnmt3l"],
    cells: ["migrating PGCs", "growing oocytes", "undifferentiated spermatogonia"],
    background: [
      "Germ cells erase and re-establish DNA methylation to reset the epigenome between generations.",
      "Genomic imprints are established in the germline by de novo DNA methylation."
    ],
    theme: "germline epigenetic reprogramming",
    weight: 1.5
  },
  {
    organism: "Homo sapiens",
    subjects: ["human acute myeloid leukemia cells", "MLL-rearranged leukemia cells", "AML cell lines"],
    assays: ["crispr", "crispr", "rnaseq", "chipseq"],
    targets: ["MEN1", "DOT1L", "H3K79me2"],
    conditions: [
      "treated with menin inhibitors",
      "with MLL-AF9 fusions",
      "resistant to venetoclax",
      "in vivo in xenografts"
    ],
    genes: ["MEN1", "DOT1L", "MYB", "HOXA9", "MEIS1", "BCL2", "KMT2A"],
    background: [
      "MLL-rearranged leukemias depend on a complex of menin and DOT1L to keep HOXA genes active.",
      "Genetic screens reveal which genes acute myeloid leukemia cells cannot live without."
    ],
    theme: "leukemia dependencies",
    weight: 1.5
  },
  {
    organism: "Xenopus tropicalis",
    subjects: ["Xenopus tropicalis embryos", "Xenopus gastrulae", "Xenopus animal caps"],
    assays: ["chipseq", "rnaseq"],
    targets: ["VegT", "Sox17", "Pol II", "H3K4me3"],
    conditions: [
      "during zygotic genome activation",
      "at the onset of gastrulation",
      "after Nodal inhibition",
      "depleted of beta-catenin"
    ],
    genes: ["vegt", "sox17", "nodal", "chrd", "gsc", "mix1"],
    background: [
      "Germ layers are specified by maternal factors and Nodal signalling at the start of zygotic transcription.",
      "Xenopus embryos are large and abundant, which suits genome-wide studies of early development."
    ],
    theme: "germ layer specification",
    weight: 1
  },
  {
    organism: "Mus musculus",
    subjects: ["mouse liver", "mouse hepatocytes", "livers of mice"],
    assays: ["rnaseq", "chipseq", "array"],
    targets: ["BMAL1", "REV-ERBalpha", "CLOCK"],
    conditions: ["around the clock", "under time-restricted feeding", "in Bmal1 knockouts", "after jet lag"],
    genes: ["Arntl", "Per2", "Nr1d1", "Dbp", "Cry1", "Pck1", "G6pc"],
    background: [
      "The circadian clock in the liver times metabolism to the daily feeding cycle.",
      "Feeding rhythms can reset the liver clock independently of the light cycle."
    ],
    theme: "circadian control of metabolism",
    weight: 1.5
  },
  {
    organism: "Mus musculus",
    subjects: ["mouse spinal cord", "injured mouse spinal cord", "mouse dorsal root ganglia"],
    assays: ["rnaseq", "scrnaseq", "atacseq"],
    conditions: [
      "after spinal cord injury",
      "after sciatic nerve crush",
      "with Pten deletion",
      "during axon regeneration"
    ],
    genes: ["Gfap", "Socs3", "Stat3", "Atf3", "Sprr1a", "Gap43", "Klf4"],
    cells: ["reactive astrocytes", "regenerating sensory neurons", "infiltrating macrophages"],
    background: [
      "Axons in the central nervous system fail to regenerate after injury, unlike those of peripheral nerves.",
      "Injury-induced transcription factors determine whether a neuron can regrow its axon."
    ],
    theme: "axon regeneration",
    weight: 1.5
  },
  {
    organism: "Homo sapiens",
    subjects: ["human placenta", "placental villi", "human trophoblasts"],
    assays: ["array", "rnaseq", "methylarray"],
    conditions: [
      "from pregnancies with preeclampsia",
      "with fetal growth restriction",
      "at term and preterm",
      "under hypoxia"
    ],
    genes: ["FLT1", "ENG", "PGF", "LEP", "HTRA1", "PAPPA2"],
    background: [
      "Preeclampsia affects up to 5% of pregnancies and originates in a dysfunctional placenta.",
      "The placenta adapts to maternal disease through changes in trophoblast gene expression."
    ],
    theme: "placental dysfunction",
    weight: 1.5
  },
  {
    organism: "Homo sapiens; Mus musculus",
    subjects: ["patient-derived xenografts", "human pancreatic cancer xenografts", "PDX tumours grown in mice"],
    assays: ["rnaseq", "rnaseq", "scrnaseq"],
    conditions: [
      "treated with gemcitabine",
      "of pancreatic ductal adenocarcinoma",
      "at relapse",
      "with KRAS G12D mutations"
    ],
    genes: ["KRAS", "GATA6", "KRT81", "SMAD4", "CDKN2A", "VIM"],
    cells: ["classical tumour cells", "basal-like tumour cells", "cancer-associated fibroblasts"],
    background: [
      "Patient-derived xenografts preserve much of the heterogeneity of the tumours they come from.",
      "Pancreatic cancers fall into classical and basal-like subtypes with different prognoses."
    ],
    theme: "pancreatic cancer subtypes",
    since: 2010,
    weight: 1.5
  }
]

// --- Composition ----------------------------------------------------------------------------

const titleTemplates: Record<Family, ReadonlyArray<readonly [string, number]>> = {
  expression: [
    ["{A} of {S} {C}", 4],
    ["Transcriptomic profiling of {S} {C}", 2],
    ["Loss of {G} alters gene expression in {S}", 1],
    ["{G}-dependent transcriptional programs in {S} {C}", 1]
  ],
  array: [
    ["Expression data from {S} {C}", 3],
    ["Gene expression profiling of {S} {C}", 2],
    ["{A} of {S} {C}", 1]
  ],
  singlecell: [
    ["{A} of {S} {C}", 4],
    ["{A} reveals {c} states in {S} {C}", 2],
    ["A single-cell atlas of {S} {C}", 1]
  ],
  binding: [
    ["{A} of {T} in {S} {C}", 4],
    ["Genome-wide {T} occupancy in {S} {C}", 2]
  ],
  accessibility: [
    ["{A} of {S} {C}", 3],
    ["Chromatin accessibility landscape of {S} {C}", 2]
  ],
  methylation: [
    ["{A} of {S} {C}", 3],
    ["Genome-wide DNA methylation in {S} {C}", 2]
  ],
  smallrna: [
    ["{A} of {S} {C}", 3],
    ["microRNA expression profiles of {S} {C}", 2]
  ],
  screen: [
    ["Genome-wide {A} in {S} {C}", 3],
    ["{A} identifies {G} as a dependency of {S}", 1]
  ],
  structure: [
    ["{A} of {S} {C}", 2],
    ["3D genome organisation of {S} {C}", 1]
  ],
  translation: [
    ["{A} of {S} {C}", 2],
    ["Translational control in {S} {C}", 1]
  ]
}

const methodTemplates: ReadonlyArray<string> = [
  "We performed {M} on {S} {C}.",
  "Here we used {M} to profile {S} {C}.",
  "To address this, we applied {M} to {S} {C}."
]

const findingTemplates: Record<Family, ReadonlyArray<string>> = {
  expression: [
    "{K} genes were differentially expressed, including {G} and {H}.",
    "Expression of {G} and {H} changed most strongly, pointing to a role in {theme}."
  ],
  array: [
    "{K} transcripts differed significantly, with {G} and {H} among the most changed.",
    "Expression signatures including {G} and {H} separated the groups."
  ],
  singlecell: [
    "We profiled {N} cells; {c} showed the strongest response, with induction of {G} and {H}.",
    "Clustering of {N} cells identified {c} marked by {G} and {H}."
  ],
  binding: [
    "We identified {P} {T} peaks, with differential binding near {G} and {H}.",
    "{T} signal was gained at enhancers near {G} and lost near {H}."
  ],
  accessibility: [
    "{P} regions changed accessibility, including elements near {G} and {H}.",
    "Newly accessible chromatin was enriched near {G} and {H}."
  ],
  methylation: [
    "We found {K} differentially methylated regions, including hypermethylation at the {G} promoter.",
    "Methylation changes at {G} and {H} distinguished the groups."
  ],
  smallrna: [
    "{G} and {H} were the most strongly changed small RNAs.",
    "A panel including {G} and {H} distinguished the groups."
  ],
  screen: [
    "Guides targeting {G} and {H} were among the most depleted.",
    "The screen identified {G} and {H} as selective dependencies."
  ],
  structure: [
    "Loops and domain boundaries around {G} and {H} changed markedly.",
    "Contacts between enhancers and the {G} promoter were lost, while {H} was unaffected."
  ],
  translation: [
    "Translation efficiency of {G} and {H} changed markedly, independently of mRNA levels.",
    "Ribosome occupancy rose on {G} and fell on {H}."
  ]
}

const closingTemplates: ReadonlyArray<readonly [string, number]> = [
  ["These data provide a resource for studying {theme}.", 3],
  ["Our results point to {G} as a regulator of {theme}.", 2],
  ["", 2]
]

const fill = (template: string, values: Record<string, string>): string =>
  template.replace(/\{(\w+)\}/g, (_, key: string) => values[key] ?? `{${key}}`).replace(/\s+/g, " ").trim()

// --- Dates and accessions ---------------------------------------------------------------------

const firstDay = Date.UTC(2005, 0, 1)
const lastDay = Date.UTC(2025, 11, 31)
const pad = (n: number, width = 2): string => String(n).padStart(width, "0")
const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate()

const randomDate = (from: number, platform: Assay["platform"]): { readonly text: string; readonly time: number } => {
  // More series each year, as in GEO; expression arrays peak around 2010.
  const years: Array<readonly [number, number]> = []
  for (let year = Math.max(2005, from); year <= 2025; year++) {
    years.push([year, platform === "array" ? Math.max(1, 14 - Math.abs(year - 2010)) : year - 2002])
  }
  const year = weighted(years)
  const month = int(1, 12)
  const day = int(1, daysIn(year, month))
  return { text: `${year}/${pad(month)}/${pad(day)}`, time: Date.UTC(year, month - 1, day) }
}

const usedAccessions = new Set<string>()
/** GEO accessions grow with time: about GSE10000 in 2005, GSE300000 by the end of 2025. */
const accessionFor = (time: number): string => {
  const t = (time - firstDay) / (lastDay - firstDay)
  let n = Math.round(10_000 + 290_000 * t ** 1.5 + int(-2_500, 2_500))
  n = Math.max(10_000, n)
  while (usedAccessions.has(`GSE${n}`)) n++
  usedAccessions.add(`GSE${n}`)
  return `GSE${n}`
}

// --- Records ----------------------------------------------------------------------------------

type Encoded = typeof UpstreamRecord.Encoded
type Mutable<A> = { -readonly [K in keyof A]: A[K] }

const makeRecord = (): Mutable<Encoded> => {
  const topic = weighted(topics.map((t) => [t, t.weight] as const))
  const assay: Assay = assays[pick(topic.assays)]
  if (assay.family === "binding" && topic.targets === undefined) throw new Error(`no targets for ${topic.subjects[0]}`)
  const [gene, other] = pickTwo(topic.genes)
  const values: Record<string, string> = {
    A: assay.title,
    S: weighted(topic.subjects.map((s, i) => [s, i === 0 ? 5 : 1] as const)),
    C: pick(topic.conditions),
    T: topic.targets === undefined ? "" : pick(topic.targets),
    G: gene,
    H: other,
    c: topic.cells === undefined ? "distinct cell populations" : pick(topic.cells),
    K: String(logInt(80, 4000)),
    N: String(logInt(3000, 150_000)),
    P: String(logInt(5000, 90_000)),
    theme: topic.theme
  }
  values.M = fill(assay.method, values)
  const title = fill(weighted(titleTemplates[assay.family]), values)
  const summary = [
    pick(topic.background),
    fill(pick(methodTemplates), values),
    fill(pick(findingTemplates[assay.family]), values),
    fill(weighted(closingTemplates), values)
  ].filter((sentence) => sentence !== "").join(" ")

  const primary = topic.organism.split("; ")[0]!
  const choices = platforms[primary]?.[assay.platform] ?? platforms[primary]!.seq!
  const platform = assay.platform === "seq" && choices.length > 1 && random() < 0.06
    ? pickTwo(choices).join("; ")
    : pick(choices)
  const date = randomDate(Math.max(assay.since, topic.since ?? 2005), assay.platform)
  const [min, max] = assay.samples
  return {
    accession: accessionFor(date.time),
    title,
    summary,
    organism: topic.organism,
    platform,
    sampleCount: logInt(min, max),
    publicationDate: date.text,
    type: assay.type
  }
}

// --- Deliberate breakage (about 6%, one problem per record) -----------------------------------

type Breakage = (record: Mutable<Encoded>, variant: number) => void

const breakages: Record<string, Breakage> = {
  "missing-title": (record, variant) => {
    record.title = variant % 2 === 0 ? "" : "   "
  },
  "missing-summary": (record, variant) => {
    record.summary = variant % 2 === 0 ? "" : " "
  },
  "unknown-organism": (record, variant) => {
    record.organism = [
      "Unicornus magicus",
      "Draco occidentalis",
      "Homo sapiens; Unicornus magicus",
      "Pegasus alatus"
    ][variant % 4]!
  },
  "zero-samples": (record) => {
    record.sampleCount = 0
  },
  "future-date": (record) => {
    const year = int(2090, 2099)
    const month = int(1, 12)
    record.publicationDate = `${year}/${pad(month)}/${pad(int(1, daysIn(year, month)))}`
  },
  "unparseable-date": (record, variant) => {
    record.publicationDate = [
      "2019/13/45",
      "2016/14/03",
      "2022/00/11",
      "2018/07/00",
      "15/03/2019",
      "2020.06.15",
      "March 2017",
      "2019/13/45"
    ][
      variant % 8
    ]!
  },
  "impossible-date": (record, variant) => {
    record.publicationDate = [
      "2019/02/30",
      "2023/02/29",
      "2021/04/31",
      "2018/06/31",
      "2017/09/31",
      "2022/11/31",
      "2019/02/29",
      "2015/02/30"
    ][
      variant % 8
    ]!
  },
  "malformed-accession": (record, variant) => {
    const digits = record.accession.slice(3)
    record.accession = [
      "GSX12",
      "GSE12",
      `gse${digits}`,
      `GDS${digits.slice(-4)}`,
      `GSE-${digits}`,
      `GSE ${digits}`,
      `GSM${digits}1`,
      `GSE${digits}a`
    ][variant % 8]!
  },
  "malformed-platform": (record, variant) => {
    record.platform = [
      "Illumina HiSeq 2500",
      "GLP570",
      "GPL",
      "gpl96",
      "GPL570 Affymetrix",
      "HiSeq",
      "GPL-24676",
      "GPL16791; NovaSeq"
    ][variant % 8]!
  }
}

const records = Array.from({ length: total }, makeRecord)

const kinds = Object.keys(breakages)
const perKind = 8
const order = records.map((_, i) => i)
for (let i = order.length - 1; i > 0; i--) {
  const j = int(0, i)
  ;[order[i], order[j]] = [order[j]!, order[i]!]
}
kinds.forEach((kind, k) => {
  for (let v = 0; v < perKind; v++) breakages[kind]!(records[order[k * perKind + v]!]!, v)
})

// --- Output -----------------------------------------------------------------------------------

const accessions = new Set(records.map((r) => r.accession))
if (accessions.size !== records.length) throw new Error("generated accessions are not unique")
// Check the shape against the schema the file source decodes with.
Schema.decodeUnknownSync(Schema.Array(UpstreamRecord))(records)

const sortKey = (accession: string): string => accession.replace(/\d+/g, (digits) => digits.padStart(12, "0"))
records.sort((
  a,
  b
) => (sortKey(a.accession) < sortKey(b.accession) ? -1 : sortKey(a.accession) > sortKey(b.accession) ? 1 : 0))

const text = `[\n${records.map((record) => `  ${JSON.stringify(record)}`).join(",\n")}\n]\n`
writeFileSync(output, text)
console.log(
  `wrote ${records.length} records (${kinds.length * perKind} broken: ${perKind} each of ${kinds.join(", ")}) ` +
    `to ${output}, ${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB`
)
