//! `#[derive(Trace)]` and `#[derive(Data)]` for the safe API of the
//! `tricolor` crate. Use them through `tricolor` (`tricolor::Trace`,
//! `tricolor::Data`), which re-exports both; the rules they enforce are
//! written on those traits.
//!
//! What `#[derive(Trace)]` generates for a struct:
//!
//! - `Trace` asked of every field type (a `where` clause for a generic
//!   type; for a concrete one, the impl's own uses of each field's `Trace`),
//!   so a field the collector could not see into (a `Vec<Member<T>>`, a
//!   `HashMap` of members, an unrooted `Gc`) is a compile error naming the
//!   field;
//! - `NO_MEMBERS`, true when no field holds a member, and `FIXED_MEMBERS`,
//!   true when every field's members sit at fixed words;
//! - `pointer_words`: each field's member words, shifted by the field's
//!   offset (`core::mem::offset_of!`), so the type gets a pointer bitmap —
//!   the marker's fast path — unless a field's members depend on its value;
//! - `trace`: each field traced in turn (the callback path, and what clears
//!   a dropped value's members).
//!
//! For an enum, `pointer_words` reports a value-dependent layout (unless no
//! variant holds a member), and `trace` matches on the variant.
//!
//! `#[trace(header_free)]` on the type sets `HEADER_FREE`: its objects ask
//! for no header (the collector's `TypeDescriptor::header_free`).
//!
//! `#[derive(Data)]` asserts that a type holds no member anywhere: it asks
//! `Data` of every field (so the assertion is checked, never trusted) and
//! implements `Trace` with no members.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::{parse_macro_input, Data, DeriveInput, Fields, Index};

/// Derives `tricolor::Trace`; see the trait's documentation.
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match trace_impl(&input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Derives `tricolor::Data` (and a member-free `tricolor::Trace`); see the
/// trait's documentation.
#[proc_macro_derive(Data)]
pub fn derive_data(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match data_impl(&input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Rejects what the collector cannot lay out: unions (which field is live
/// is unknown) and packed structs (members must be word-aligned).
fn check_shape(input: &DeriveInput, what: &str) -> syn::Result<()> {
    if let Data::Union(u) = &input.data {
        return Err(syn::Error::new(
            u.union_token.span,
            format!("#[derive({what})] cannot be used on a union: the collector cannot tell which field is live"),
        ));
    }
    for attr in &input.attrs {
        if attr.path().is_ident("repr") {
            let mut packed = false;
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("packed") {
                    packed = true;
                }
                // Skip the arguments of `align(N)` and the like.
                if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let _: Tokens = content.parse()?;
                }
                Ok(())
            });
            if packed {
                return Err(syn::Error::new_spanned(
                    attr,
                    format!("#[derive({what})] cannot be used on a #[repr(packed)] type: members must be word-aligned"),
                ));
            }
        }
    }
    Ok(())
}

/// Every field type, in declaration order.
fn field_types(input: &DeriveInput) -> Vec<&syn::Type> {
    match &input.data {
        Data::Struct(s) => s.fields.iter().map(|f| &f.ty).collect(),
        Data::Enum(e) => e
            .variants
            .iter()
            .flat_map(|v| v.fields.iter().map(|f| &f.ty))
            .collect(),
        Data::Union(_) => Vec::new(),
    }
}

/// The impl's generics with `bound` asked of every field type.
fn where_clause(input: &DeriveInput, bound: Tokens) -> Tokens {
    let mut preds: Vec<Tokens> = input
        .generics
        .where_clause
        .as_ref()
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    // A type without type parameters needs no bounds: a field type that
    // does not implement the trait fails where the impl names it. (Bounds
    // on concrete types would also loop on recursive types: `Node: Trace`
    // asking `Member<Node>: Trace`.)
    if input.generics.type_params().next().is_some() {
        for ty in field_types(input) {
            preds.push(quote!(#ty: #bound));
        }
    }
    quote!(where #(#preds),*)
}

/// Whether the type carries `#[trace(header_free)]`; an error for any
/// other `#[trace(...)]` argument.
fn header_free(input: &DeriveInput) -> syn::Result<bool> {
    let mut found = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("trace")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("header_free") {
                found = true;
                Ok(())
            } else {
                Err(meta.error("unknown #[trace] argument; the only one is `header_free`"))
            }
        })?;
    }
    Ok(found)
}

fn trace_impl(input: &DeriveInput) -> syn::Result<Tokens> {
    check_shape(input, "Trace")?;
    let header_free = header_free(input)?;
    let name = &input.ident;
    let (impl_g, ty_g, _) = input.generics.split_for_impl();
    let wc = where_clause(input, quote!(::tricolor::Trace));
    let tys = field_types(input);
    let no_members = quote!(true #(&& <#tys as ::tricolor::Trace>::NO_MEMBERS)*);
    // A struct's members sit at fixed words if each field's do; an enum's
    // only if it has none (which words are members depends on the variant).
    let fixed_members = match &input.data {
        Data::Struct(_) => quote!(true #(&& <#tys as ::tricolor::Trace>::FIXED_MEMBERS)*),
        _ => quote!(<Self as ::tricolor::Trace>::NO_MEMBERS),
    };

    let (pointer_words, trace) = match &input.data {
        Data::Struct(s) => {
            let members: Vec<Tokens> = s
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| match &f.ident {
                    Some(id) => quote!(#id),
                    None => {
                        let i = Index::from(i);
                        quote!(#i)
                    }
                })
                .collect();
            let ftys: Vec<&syn::Type> = s.fields.iter().map(|f| &f.ty).collect();
            let pw = quote! {
                let mut fixed = true;
                #(
                    if !<#ftys as ::tricolor::Trace>::NO_MEMBERS {
                        let offset = ::core::mem::offset_of!(Self, #members);
                        ::core::debug_assert_eq!(offset % 8, 0, "a field holding members is word-aligned");
                        fixed &= <#ftys as ::tricolor::Trace>::pointer_words(base + (offset / 8) as u32, out);
                    }
                )*
                fixed
            };
            let tr = quote! {
                #(
                    if !<#ftys as ::tricolor::Trace>::NO_MEMBERS {
                        ::tricolor::Trace::trace(&self.#members, tracer);
                    }
                )*
            };
            (pw, tr)
        }
        Data::Enum(e) => {
            let arms: Vec<Tokens> = e
                .variants
                .iter()
                .map(|v| {
                    let vname = &v.ident;
                    match &v.fields {
                        Fields::Named(nf) => {
                            let ids: Vec<_> = nf.named.iter().map(|f| f.ident.clone().unwrap()).collect();
                            quote!(#name::#vname { #(#ids),* } => { #( ::tricolor::Trace::trace(#ids, tracer); )* })
                        }
                        Fields::Unnamed(uf) => {
                            let ids: Vec<_> = (0..uf.unnamed.len()).map(|i| format_ident!("f{}", i)).collect();
                            quote!(#name::#vname ( #(#ids),* ) => { #( ::tricolor::Trace::trace(#ids, tracer); )* })
                        }
                        Fields::Unit => quote!(#name::#vname => {}),
                    }
                })
                .collect();
            let pw = quote! {
                let _ = (base, out);
                <Self as ::tricolor::Trace>::NO_MEMBERS
            };
            let tr = if e.variants.is_empty() {
                quote!(match *self {})
            } else {
                quote! {
                    #[allow(unused_variables)]
                    match self { #(#arms)* }
                }
            };
            (pw, tr)
        }
        Data::Union(_) => unreachable!("rejected by check_shape"),
    };

    Ok(quote! {
        // SAFETY: generated by #[derive(Trace)]: `pointer_words` lists every
        // member word of every field (each field's own, shifted by its
        // offset) or reports a value-dependent layout, and `trace` visits
        // every field; every field type implements `Trace` (the where clause).
        unsafe impl #impl_g ::tricolor::Trace for #name #ty_g #wc {
            const NO_MEMBERS: bool = #no_members;
            const FIXED_MEMBERS: bool = #fixed_members;
            const HEADER_FREE: bool = #header_free;
            #[inline]
            fn pointer_words(base: u32, out: &mut ::std::vec::Vec<u32>) -> bool {
                #pointer_words
            }
            #[inline]
            fn trace(&self, tracer: &mut ::tricolor::Tracer<'_>) {
                #trace
            }
        }
    })
}

fn data_impl(input: &DeriveInput) -> syn::Result<Tokens> {
    check_shape(input, "Data")?;
    let name = &input.ident;
    let (impl_g, ty_g, _) = input.generics.split_for_impl();
    let wc = where_clause(input, quote!(::tricolor::Data));
    Ok(quote! {
        // SAFETY: generated by #[derive(Data)]: every field type implements
        // `Data` (the where clause), so no value of this type holds a member.
        unsafe impl #impl_g ::tricolor::Data for #name #ty_g #wc {}
        // SAFETY: as above: no members, so there is nothing to list or visit.
        unsafe impl #impl_g ::tricolor::Trace for #name #ty_g #wc {
            const NO_MEMBERS: bool = true;
            #[inline]
            fn pointer_words(_base: u32, _out: &mut ::std::vec::Vec<u32>) -> bool {
                true
            }
            #[inline]
            fn trace(&self, _tracer: &mut ::tricolor::Tracer<'_>) {}
        }
    })
}
